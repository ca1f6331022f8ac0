# bash completion for jrn-merge(1)
_jrn_merge()
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
	--now | --unmerge | --source | --require | --parallel)
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "--db --config --now --rejects --dry-run --quiet --verbose
			--help --version --all --source --require --save --unmerge --parallel --check-config" -- "$cur"))
		return
	fi
	if declare -F _filedir > /dev/null; then
		_filedir
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _jrn_merge jrn-merge
