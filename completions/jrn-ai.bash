# bash completion for jrn-ai(1)
_jrn_ai()
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
		state | optimize | eval) cmd=${words[i]}; break ;;
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
	--model)
		# rules, and the models of ai.models in ./jrn.yaml (two-space keys)
		local names
		names=$(sed -n '/^  models:/,/^  [a-zA-Z]/s/^    \([A-Za-z0-9_-]*\):.*/\1/p' "${JRN_CONFIG:-jrn.yaml}" 2> /dev/null)
		COMPREPLY=($(compgen -W "rules $names" -- "$cur"))
		return
		;;
	--format)
		COMPREPLY=($(compgen -W "table ndjson" -- "$cur"))
		return
		;;
	--now | --budget | --parallel | --since | --until | --horizon)
		return
		;;
	esac

	local common="--db --config --now --rejects --quiet --verbose --help --version --model --budget
		--parallel --check-config"
	case $cmd in
	state | optimize)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$common --dry-run" -- "$cur"))
		elif declare -F _filedir > /dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	eval) COMPREPLY=($(compgen -W "$common --since --until --horizon --format" -- "$cur")) ;;
	*)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help --version --check-config" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "state optimize eval" -- "$cur"))
		fi
		;;
	esac
}
complete -F _jrn_ai jrn-ai
