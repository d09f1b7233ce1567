#!/bin/sh
# popgate's developer entry point, used by the README quick start and CI.
#   ./build.sh serve   install build dependencies, build, run the daemon on its defaults
#   ./build.sh check   install build and test dependencies, build, run the whole suite
#   ./build.sh build   install build dependencies and build only
# Set POPGATE_CONFIGURE_FLAGS (e.g. --enable-asan) to pass flags to configure.
set -eu
cd "$(dirname "$0")"

BUILD_PKGS="build-essential autoconf automake pkg-config libssl-dev libcurl4-openssl-dev
 libsqlite3-dev libmicrohttpd-dev libjansson-dev libinih-dev libgmime-3.0-dev"
TEST_PKGS="dovecot-pop3d dovecot-core stunnel4 fetchmail getmail6 curl openssl python3
 unbound dnsdist knot-resolver dnsutils bogofilter sqlite3 clang libclang-rt-14-dev
 python3-cryptography"

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

build() {
	need $BUILD_PKGS
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		autoreconf -fi >/dev/null
	fi
	if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
		./configure -q ${POPGATE_CONFIGURE_FLAGS:-}
	fi
	make -s -j"$(nproc)"
}

case "${1:-}" in
serve)
	build
	exec ./src/popgate serve
	;;
check)
	need $BUILD_PKGS $TEST_PKGS
	build
	status=0
	make -s -j"$(nproc)" check || status=$?
	# One line a person (and CI) can read: every TAP result counted.
	passed=$(cat $(find tests -name '*.trs') 2>/dev/null | grep -c '^:test-result: \(PASS\|XFAIL\)' || true)
	failed=$(cat $(find tests -name '*.trs') 2>/dev/null | grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' || true)
	skipped=$(cat $(find tests -name '*.trs') 2>/dev/null | grep -c '^:test-result: SKIP' || true)
	if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
	echo "$passed passed, $failed failed, $skipped skipped"
	exit "$status"
	;;
build)
	build
	;;
*)
	echo "usage: $0 serve|check|build" >&2
	exit 2
	;;
esac
