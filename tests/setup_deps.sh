# Sourced by tests/run_all.sh and tests/demo/run.sh: installs what hubfs needs
# to build, test and demo on Debian 12 (as root), and does nothing when it is
# all there already.  Defines hubfs_setup_deps; returns non-zero on failure.
#
# libgit2 >= 1.7 comes from bookworm-backports (Debian 12 itself ships 1.5).
# squid: the many-hosts fan-out test and benchmark run one of their own, on a
# loopback port with a generated config (tests/integration/squidproxy.py); the
# package's own service is not used.

HUBFS_APT_PACKAGES="build-essential cmake pkg-config git fuse3 libfuse3-dev
 libcurl4-openssl-dev libssl-dev libcjson-dev libcmocka-dev python3-dev python3-pytest
 python3-torch python3-torchvision python3-pip python3-setuptools openssl
 clang libclang-rt-14-dev squid"
HUBFS_BACKPORTS_LINE="deb http://deb.debian.org/debian bookworm-backports main"

hubfs_deps_present() {
	local c
	for c in cc make cmake pkg-config git fusermount3; do
		command -v "$c" >/dev/null 2>&1 || return 1
	done
	[ -x /usr/lib/git-core/git-daemon ] || return 1
	/usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || return 1
	pkg-config --exists 'fuse3 >= 3.10' 'libgit2 >= 1.7' libcurl libcrypto libcjson cmocka python3-embed \
		>/dev/null 2>&1 || return 1
	local p
	for p in $HUBFS_APT_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || return 1
	done
	return 0
}

hubfs_setup_deps() {
	if hubfs_deps_present; then
		echo "setup_deps: all build and test dependencies present"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "setup_deps: missing packages and not root; install: $HUBFS_APT_PACKAGES libgit2-dev (>= 1.7, bookworm-backports)" >&2
		return 1
	fi
	echo "setup_deps: installing packages with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	local f have_bpo=0
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && grep -qsE '^[^#]*bookworm-backports' "$f" && have_bpo=1
	done
	if [ "$have_bpo" = 0 ]; then
		echo "$HUBFS_BACKPORTS_LINE" > /etc/apt/sources.list.d/bookworm-backports.list || return 1
	fi
	apt-get update -q || return 1
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $HUBFS_APT_PACKAGES || return 1
	apt-get install -y -q --no-install-recommends -t bookworm-backports libgit2-dev || return 1
	if [ ! -e /dev/fuse ]; then
		mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || true
	fi
	if ! hubfs_deps_present; then
		echo "setup_deps: packages installed but a dependency is still missing" >&2
		return 1
	fi
	return 0
}
