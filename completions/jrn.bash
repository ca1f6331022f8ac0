# bash completion for jrn(1): subcommands, then the tool's own completion
_jrn()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	if ((COMP_CWORD == 1)); then
		local tools
		tools=$(jrn tools 2> /dev/null)
		COMPREPLY=($(compgen -W "$tools init help tools --version --help" -- "$cur"))
		return
	fi
	local sub=${COMP_WORDS[1]}
	case $sub in
	init)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--force --db --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -d -- "$cur"))
		fi
		return
		;;
	help)
		COMPREPLY=($(compgen -W "$(jrn tools 2> /dev/null)" -- "$cur"))
		return
		;;
	esac
	# Hand over to jrn-SUB's completion, as if jrn-SUB had been typed.
	local fn=_jrn_${sub//-/_}
	if ! declare -F "$fn" > /dev/null; then
		local dir
		for dir in "${BASH_COMPLETION_USER_DIR:-}/completions" /usr/local/share/bash-completion/completions \
			/usr/share/bash-completion/completions; do
			[[ -r $dir/jrn-$sub ]] && { . "$dir/jrn-$sub"; break; }
		done
	fi
	if declare -F "$fn" > /dev/null; then
		COMP_WORDS=("jrn-$sub" "${COMP_WORDS[@]:2}")
		((COMP_CWORD--))
		"$fn"
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _jrn -o filenames jrn
