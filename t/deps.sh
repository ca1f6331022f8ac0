#!/bin/sh
# Installs the Debian packages named as arguments that are missing (the
# Makefile's DEB_PKGS: the build, the tests, and clang with
# libclang-rt-14-dev for libFuzzer in make fuzz).
# As root: apt-get install them. Otherwise: print the exact command and fail.
# postfix (wanted only for its smtp-sink) is installed unconfigured, so no
# MTA is set up or left listening on port 25.
#
#   sh t/deps.sh --npm DIR   runs `npm ci --ignore-scripts` in DIR when
#                            DIR/node_modules is missing or older than
#                            DIR/package-lock.json (the test peers).
if [ "$1" = --npm ]; then
	dir=$2 stamp=$2/node_modules/.jrn-npm-ci
	[ -e "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && exit 0
	echo "make deps: npm ci --ignore-scripts in $dir" >&2
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >&2) || exit 1
	touch "$stamp"
	exit 0
fi
missing=""
for p in "$@"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "make deps: missing packages; as root run:" >&2
	case " $missing " in *" postfix "*)
		echo '  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections' >&2 ;;
	esac
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
echo "make deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
case " $missing " in *" postfix "*)
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections || exit 1 ;;
esac
apt-get update -qq >&2 || exit 1
apt-get install -y -qq --no-install-recommends $missing >&2 || exit 1
# An unconfigured postfix does not start; should one run anyway, stop it.
case " $missing " in *" postfix "*)
	if [ -x /usr/sbin/postfix ] && /usr/sbin/postfix status >/dev/null 2>&1; then
		/usr/sbin/postfix stop >&2
	fi ;;
esac
exit 0
