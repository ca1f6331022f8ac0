# bash completion for jrn-route(1)
_jrn_route()
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
	--journeys)
		if declare -F _filedir > /dev/null; then
			_filedir -d
		else
			COMPREPLY=($(compgen -d -- "$cur"))
		fi
		return
		;;
	--now | --explain)
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "--db --config --now --rejects --dry-run --journeys --tick
			--simulate --check --explain --check-config --quiet --verbose --help --version" -- "$cur"))
		return
	fi
	# --check JOURNEY...: the names of the journey files (--journeys DIR,
	# else $JRN_JOURNEYS, else ./journeys); a word with a / is a file
	local i dir=${JRN_JOURNEYS:-journeys} check=
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--check) check=1 ;;
		--journeys) dir=${words[i + 1]} ;;
		--journeys=*) dir=${words[i]#--journeys=} ;;
		esac
	done
	if [[ $check && $cur != */* ]]; then
		local f names=()
		for f in "$dir"/*.yaml "$dir"/*.yml; do
			[[ -f $f ]] || continue
			f=${f##*/}
			names+=("${f%.*}")
		done
		COMPREPLY=($(compgen -W "${names[*]}" -- "$cur"))
		return
	fi
	if declare -F _filedir > /dev/null; then
		_filedir
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _jrn_route jrn-route
