# bash completion for jrn-segment(1)
_jrn_segment()
{
	local cur prev words cword
	if declare -F _init_completion > /dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	case $prev in
	--db | --config | --rejects | --segments)
		if declare -F _filedir > /dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	--only | --explain)
		# the segment names of the definitions in use (or named on the line)
		local segs="" i
		for ((i = 1; i < cword; i++)); do
			[[ ${words[i]} == --segments ]] && segs=${words[i + 1]}
		done
		COMPREPLY=($(compgen -W "$(jrn-segment ${segs:+--segments "$segs"} --list 2> /dev/null)" -- "$cur"))
		return
		;;
	--run)
		COMPREPLY=($(compgen -W "last" -- "$cur"))
		return
		;;
	--now | --snapshot | --drift)
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "--segments --only --explain --list --count --save --changes
			--run --snapshot --drift --all --db --config --now --rejects --dry-run --quiet
			--verbose --trace --check-config --help --version" -- "$cur"))
	elif declare -F _filedir > /dev/null; then
		_filedir
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _jrn_segment jrn-segment
