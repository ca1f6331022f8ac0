# bash completion for jrn-score(1)
_jrn_score()
{
	local cur prev words cword
	if declare -F _init_completion > /dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		rfm | clv | lead) cmd=${words[i]}; break ;;
		esac
	done

	case $prev in
	--db | --config | --rejects)
		if declare -F _filedir > /dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	--now | --calibration-end | --window | --horizon)
		return
		;;
	--run)
		COMPREPLY=($(compgen -W "last" -- "$cur"))
		return
		;;
	esac

	local common="--db --config --now --rejects --dry-run --check-config --quiet --verbose --help
		--version"
	case $cmd in
	rfm) COMPREPLY=($(compgen -W "$common --window --save --changes --run" -- "$cur")) ;;
	clv) COMPREPLY=($(compgen -W "$common --calibration-end --horizon --params --save" -- "$cur")) ;;
	lead)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$common --all --save" -- "$cur"))
		elif declare -F _filedir > /dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	*)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help --version --check-config" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "rfm clv lead" -- "$cur"))
		fi
		;;
	esac
}
complete -F _jrn_score jrn-score
