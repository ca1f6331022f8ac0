# bash completion for jrn-report(1)
_jrn_report()
{
	local cur prev words cword
	if declare -F _init_completion > /dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local kinds="metrics funnel attribution cohorts experiment journeys rfm kpis"
	local kind="" i
	for ((i = 1; i < cword; i++)); do
		case " $kinds " in
		*" ${words[i]} "*) kind=${words[i]}; break ;;
		esac
	done

	case $prev in
	--db | --config | -o | --output)
		if declare -F _filedir > /dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	--format)
		COMPREPLY=($(compgen -W "ndjson table csv html" -- "$cur"))
		return
		;;
	--by)
		case $kind in
		metrics) COMPREPLY=($(compgen -W "campaign channel variant day hour journey provider all" -- "${cur##*,}")) ;;
		esac
		return
		;;
	--period)
		COMPREPLY=($(compgen -W "day week month" -- "$cur"))
		return
		;;
	--model)
		COMPREPLY=($(compgen -W "first last linear time-decay position markov" -- "${cur##*,}"))
		return
		;;
	--since | --until | --now | --steps | --within | --lookback | --half-life | --journey | \
	--level | --from | --to)
		return
		;;
	esac

	local common="--since --until --by --format --output --db --config --now --quiet --verbose --help
		--version --check-config"
	local own=""
	case $kind in
	metrics) own="--lookback --save --dry-run" ;;
	funnel) own="--steps --within" ;;
	attribution) own="--model --lookback --half-life" ;;
	cohorts) own="--period" ;;
	experiment) own="--journey --level" ;;
	journeys) own="--journey" ;;
	rfm) own="--from --to" ;;
	kpis) own="" ;;
	*)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help --version --check-config" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$kinds" -- "$cur"))
		fi
		return
		;;
	esac
	COMPREPLY=($(compgen -W "$common $own" -- "$cur"))
}
complete -F _jrn_report jrn-report
