#!/bin/sh
# popgate's developer entry point, used by the README quick start and CI.
#   ./build.sh serve   install build dependencies, build, run the daemon on its defaults
#   ./build.sh check   install build and test dependencies, build, run the whole suite
#                      twice: a normal build (build/) and one with ASan + UBSan
#                      (build-asan/); POPGATE_NO_ASAN=1 skips the second
#   ./build.sh build   install build dependencies and build only (build/)
# The build happens out of the source tree; the daemon is build/src/popgate.
set -eu
cd "$(dirname "$0")"
top=$(pwd)

BUILD_PKGS="build-essential autoconf automake pkg-config libssl-dev libcurl4-openssl-dev
 libsqlite3-dev libmicrohttpd-dev libjansson-dev libinih-dev libgmime-3.0-dev"
TEST_PKGS="dovecot-pop3d dovecot-core stunnel4 fetchmail getmail6 curl openssl python3
 unbound dnsdist knot-resolver dnsutils bogofilter sqlite3 clang libclang-rt-14-dev strace iproute2
 ca-certificates spamassassin spamd rspamd chromium nodejs"

need() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "build.sh: installing$missing" >&2
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
}

# build DIR [CONFIGURE-FLAGS...]
build() {
	dir=$1; shift
	need $BUILD_PKGS
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		mkdir -p m4
		autoreconf -fi >/dev/null
	fi
	if [ -f config.status ]; then
		echo "build.sh: the source tree holds an in-tree build; run 'make distclean' first" >&2
		exit 1
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
		(cd "$dir" && "$top/configure" -q "$@")
	fi
	make -s -C "$dir" -j"$(nproc)"
}


case "${1:-}" in
serve)
	build build
	mkdir -p var
	exec ./build/src/popgate serve
	;;
check)
	need $BUILD_PKGS $TEST_PKGS
	# The dashboard test installs playwright-core with npm (Debian's nodejs
	# lacks it; NodeSource's nodejs has it and conflicts with Debian's npm).
	command -v npm >/dev/null 2>&1 || need npm
	status=0
	dirs=build
	build build
	make -s -C build check || status=$?
	if [ "${POPGATE_NO_ASAN:-0}" != 1 ]; then
		build build-asan --enable-asan
		make -s -C build-asan check || status=$?
		dirs="build build-asan"
	fi
	# One line a person (and CI) can read: every TAP result of both runs counted.
	trs=$(find $dirs -name '*.trs')
	passed=$(cat $trs /dev/null | grep -c '^:test-result: \(PASS\|XFAIL\)' || true)
	failed=$(cat $trs /dev/null | grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' || true)
	skipped=$(cat $trs /dev/null | grep -c '^:test-result: SKIP' || true)
	if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
	echo "$passed passed, $failed failed, $skipped skipped"
	exit "$status"
	;;
build)
	build build
	;;
*)
	echo "usage: $0 serve|check|build" >&2
	exit 2
	;;
esac
