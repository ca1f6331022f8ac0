# bash completion for jrn(1) and jrn-ingest(1)
#
# Source this file, or install it into bash-completion's completions
# directory under the names jrn and jrn-ingest. It needs no helpers from
# the bash-completion package, and uses its loader when there is one to
# find the completion of other jrn-TOOL commands.

# _jrn_words: sets cur and prev from COMP_WORDS, joining "--opt" "=" "val"
# (bash splits at '=') so that --db=PATH completes like --db PATH.
_jrn_words()
{
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi
}

# _jrn_files [-d]: file (or directory) names for cur
_jrn_files()
{
	compopt -o filenames 2> /dev/null
	if [[ ${1-} == -d ]]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
}

_jrn_tools()
{
	local t
	t=$(command jrn tools 2> /dev/null) || t=
	echo "${t:-ingest}"
}

_jrn_ingest()
{
	local cur prev i
	_jrn_words
	# after "--" every word is a FILE
	for ((i = 1; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == -- ]] && { _jrn_files; return; }
	done
	case $prev in
	--db | --config | --rejects)
		_jrn_files
		return
		;;
	--country)
		mapfile -t COMPREPLY < <(compgen -W "US GB DE FR NL ES IT CA AU IN BR JP" -- "${cur^^}")
		return
		;;
	--now | --batch-size)
		return
		;;
	--listen)
		mapfile -t COMPREPLY < <(compgen -W "127.0.0.1:8080 [::1]:8080 :8080" -- "$cur")
		return
		;;
	--publish | --from)
		mapfile -t COMPREPLY < <(compgen -W "nats://127.0.0.1:4222" -- "$cur")
		return
		;;
	--partitions)
		mapfile -t COMPREPLY < <(compgen -W "0-7 0-3 4-7 0/8" -- "$cur")
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "--db --config --now --rejects
			--store-only --all --dry-run --country --batch-size --listen --quiet
			--publish --from --partitions --drain --check-config
			--verbose --help --version -q -v -h --" -- "$cur")
		return
	fi
	_jrn_files
}

# _jrn_delegate TOOL: complete the words after "jrn TOOL" as jrn-TOOL's
# own completion would, if there is one.
_jrn_delegate()
{
	local tool=$1 cmd=jrn-$1 fn=_jrn_${1//-/_} spec dir
	if ! declare -F "$fn" > /dev/null; then
		fn=
		spec=$(complete -p "$cmd" 2> /dev/null)
		if [[ -z $spec ]]; then
			if declare -F __load_completion > /dev/null; then
				__load_completion "$cmd"
			else
				for dir in "${BASH_COMPLETION_USER_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/bash-completion}/completions" \
					/usr/local/share/bash-completion/completions \
					/usr/share/bash-completion/completions; do
					# shellcheck source=/dev/null
					[[ -r $dir/$cmd ]] && { . "$dir/$cmd"; break; }
				done
			fi
			spec=$(complete -p "$cmd" 2> /dev/null)
		fi
		[[ $spec =~ -F\ ([^ ]+) ]] && fn=${BASH_REMATCH[1]}
	fi
	if [[ -z $fn ]]; then
		_jrn_files
		return
	fi
	# Rewrite the line as if jrn-TOOL had been typed: "jrn TOOL" and
	# "jrn-TOOL" differ only in what lies between the two words.
	local rest=${COMP_LINE#"${COMP_WORDS[0]}"}
	rest=${rest#"${rest%%[![:space:]]*}"}
	rest=${rest#"$tool"}
	local line="$cmd$rest"
	COMP_POINT=$((COMP_POINT - (${#COMP_LINE} - ${#line})))
	((COMP_POINT < 0)) && COMP_POINT=0
	COMP_LINE=$line
	COMP_WORDS=("$cmd" "${COMP_WORDS[@]:2}")
	((COMP_CWORD--))
	"$fn" "$cmd" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}

# _jrn_jobs: the job names under jobs: in ./jrn.yaml (two-space indented keys)
_jrn_jobs()
{
	[[ -r jrn.yaml ]] && sed -n '/^jobs:/,/^[^ #]/s/^  \([A-Za-z0-9._-]*\):.*/\1/p' jrn.yaml
}

# _jrn_verb VERB: the words after "jrn run|log|events|suppressions|queue|privacy|partition"
_jrn_verb()
{
	local common="--db --config --now --quiet --verbose --help -q -v -h" opts words
	case $prev in
	--db | --config | --rejects)
		_jrn_files
		return
		;;
	--spool)
		_jrn_files -d
		return
		;;
	-o | --output)
		_jrn_files
		return
		;;
	--of | --field)
		return
		;;
	--channel)
		mapfile -t COMPREPLY < <(compgen -W "all email sms whatsapp webhook retargeting" -- "$cur")
		return
		;;
	--reason)
		mapfile -t COMPREPLY < <(compgen -W "complained bounced unsubscribed invalid" -- "$cur")
		return
		;;
	--now | --set | -n)
		return
		;;
	esac
	case $1 in
	run) opts="--wait --dry-run" words=$(_jrn_jobs) ;;
	log) opts="-n --json" words=$(_jrn_jobs) ;;
	events) opts="--set --bad-amount --dry-run" words="delete fix" ;;
	suppressions) opts="--channel --reason --rejects --dry-run" words="import list remove" ;;
	queue) opts="--dry-run" words="list cancel" ;;
	privacy)
		words="export erase"
		[[ ${COMP_WORDS[2]} == erase ]] && opts="--dry-run --spool"
		;;
	doctor) opts="" words="" ;;
	partition)
		words="export import drop"
		case ${COMP_WORDS[2]} in
		export) opts="--of -o --output" ;;
		import) opts="" ;;
		drop) opts="--of --dry-run" ;;
		*) opts="--of --field --rejects" ;;
		esac
		;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts $common" -- "$cur")
	elif ((COMP_CWORD == 2)); then
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
	elif [[ $1 == suppressions && ${COMP_WORDS[2]} == import ]]; then
		_jrn_files
	elif [[ $1 == partition && ${COMP_WORDS[2]} != export && ${COMP_WORDS[2]} != drop ]]; then
		_jrn_files
	fi
}

# jrn's own verbs (cmd/jrn/main.c's verbs)
_jrn_verbs="init run log events suppressions queue privacy partition doctor"

_jrn()
{
	local cur prev i
	_jrn_words
	if ((COMP_CWORD == 1)); then
		mapfile -t COMPREPLY < <(compgen -W "$(_jrn_tools) $_jrn_verbs
			help tools --help --version" -- "$cur")
		return
	fi
	case ${COMP_WORDS[1]} in
	init)
		case $prev in
		--db)
			_jrn_files
			return
			;;
		esac
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--force --db --help" -- "$cur")
		else
			_jrn_files -d
		fi
		;;
	run | log | events | suppressions | queue | privacy | partition | doctor)
		_jrn_verb "${COMP_WORDS[1]}"
		;;
	help)
		((COMP_CWORD == 2)) &&
			mapfile -t COMPREPLY < <(compgen -W "$(_jrn_tools) $_jrn_verbs" -- "$cur")
		;;
	tools | version | --version | -h | --help | -*) ;;
	*)
		_jrn_delegate "${COMP_WORDS[1]}"
		;;
	esac
}

complete -F _jrn jrn
complete -F _jrn_ingest jrn-ingest
