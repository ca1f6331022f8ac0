# bash completion for jrn-ingest(1)
_jrn_ingest()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	--db | --config | --rejects)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--now | --batch-size)
		return
		;;
	--country)
		COMPREPLY=($(compgen -W "US GB DE FR NL ES IT CA AU IN BR JP" -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "--db --config --now --rejects --store-only --all
			--dry-run --country --batch-size --quiet --verbose --help --version" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _jrn_ingest -o filenames jrn-ingest
