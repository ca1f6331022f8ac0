# bash completion for jrn-send(1)
_jrn_send()
{
	local cur prev words cword
	if declare -F _init_completion > /dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	case $prev in
	--db | --config | --rejects)
		if declare -F _filedir > /dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	--spool)
		if declare -F _filedir > /dev/null; then
			_filedir -d
		else
			COMPREPLY=($(compgen -d -- "$cur"))
		fi
		return
		;;
	--now | --parallel | --batch-size)
		return
		;;
	esac

	# --due and --stuck read no input: no FILEs, and --resend only with --stuck
	local mode="" i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--due | --stuck) mode=${words[i]} ;;
		esac
	done

	local common="--db --config --now --rejects --dry-run --trace --spool --parallel
		--batch-size --check-config --quiet --verbose --help --version"
	if [[ $cur == -* ]]; then
		case $mode in
		--stuck) COMPREPLY=($(compgen -W "$common --resend" -- "$cur")) ;;
		--due) COMPREPLY=($(compgen -W "$common" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "$common --due --stuck" -- "$cur")) ;;
		esac
	elif [[ -n $mode ]]; then
		return
	elif declare -F _filedir > /dev/null; then
		_filedir
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _jrn_send jrn-send
