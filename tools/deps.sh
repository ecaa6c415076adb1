#!/bin/sh
# deps.sh - the one place that installs what contigd builds and tests with
# (`make deps`, which `make run`, `make test`, `make bench` and .ci/run
# call): a test run itself never reaches the network.
#
#   tools/deps.sh             the Debian packages every target needs: as
#                             root, install what is missing (non-
#                             interactively); otherwise print the exact
#                             apt-get line and exit 1
#   tools/deps.sh --optional  also what the tests that otherwise skip need
#                             (DPDK, the NUMA guests and their kernel,
#                             node_exporter): `make deps OPTIONAL=1`, CI.
#                             Not root: says what to run, exits 0
#   tools/deps.sh --list      the required package names, one a line, and
#                             nothing else (tools/chroot-test.sh builds its
#                             chroot with them)
set -eu

# package : a file that tells it is installed. systemd (systemd-analyze,
# systemd-socket-activate), man-db, groff-base and binutils (readelf) are
# for tests/install/test_install.sh.
need="
libuv1-dev:/usr/include/uv.h
libprotobuf-c-dev:/usr/include/protobuf-c/protobuf-c.h
protobuf-c-compiler:/usr/bin/protoc-c
libhugetlbfs-dev:/usr/include/hugetlbfs.h
libhugetlbfs-bin:/usr/bin/hugeadm
libnuma-dev:/usr/include/numa.h
zlib1g-dev:/usr/include/zlib.h
libsystemd-dev:/usr/include/systemd/sd-daemon.h
pkg-config:/usr/bin/pkg-config
gcc:/usr/bin/gcc
g++:/usr/bin/g++
make:/usr/bin/make
perl:/usr/bin/prove
systemd:/usr/bin/systemd-analyze
man-db:/usr/bin/man
groff-base:/usr/bin/groff
binutils:/usr/bin/readelf
"
# Optional: without them test_dpdk and test_dpdk_api (libdpdk-dev),
# tests/numa (qemu, busybox, cpio, and the guest kernel fetched below) and
# test_metrics' node_exporter checks skip, each saying which package.
optional="
libdpdk-dev:/usr/include/dpdk/rte_eal.h
qemu-system-x86:/usr/bin/qemu-system-x86_64
busybox-static:/bin/busybox
cpio:/usr/bin/cpio
prometheus-node-exporter:/usr/bin/prometheus-node-exporter
"
mode=required
case "${1:-}" in
--list)
	for entry in $need; do
		echo "${entry%%:*}"
	done
	exit 0
	;;
--optional) mode=optional ;;
"") ;;
*)
	echo "usage: tools/deps.sh [--optional | --list]" >&2
	exit 2
	;;
esac

# The packages of @1 ("package:file" entries) whose file is missing.
missing_of() {
	for entry in $1; do
		[ -e "${entry#*:}" ] || printf ' %s' "${entry%%:*}"
	done
}

# apt-get install "$@", with an apt-get update first only when the lists are too old.
apt_install() {
	echo "installing:$*" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "$@" >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends "$@" >&2
	fi
}

missing=$(missing_of "$need")
[ "$mode" = optional ] && extra=$(missing_of "$optional") || extra=
root=0
[ "$(id -u)" -eq 0 ] && root=1

if [ -n "$missing" ]; then
	if [ $root = 0 ]; then
		echo "contigd needs these Debian packages:$missing" >&2
		echo "run as root:  apt-get install -y$missing   (or run this make target as root)" >&2
		exit 1
	fi
	# shellcheck disable=SC2086
	apt_install $missing
fi
[ "$mode" = optional ] || exit 0

if [ -n "$extra" ]; then
	if [ $root = 0 ]; then
		echo "optional, for the tests that skip without them:$extra" >&2
		echo "run as root:  apt-get install -y$extra   (or make deps OPTIONAL=1 as root)" >&2
	else
		# shellcheck disable=SC2086
		apt_install $extra || echo "deps: could not install$extra: those tests will skip" >&2
	fi
fi
# The NUMA guests' kernel: fetched once into the cache, never installed.
if [ $root = 1 ] && [ -x /usr/bin/qemu-system-x86_64 ]; then
	here=$(dirname "$0")/..
	"$here/tests/numa/fetch_kernel.sh" >/dev/null ||
		{ apt-get update -q >&2 && "$here/tests/numa/fetch_kernel.sh" >/dev/null; } ||
		echo "deps: no NUMA guest kernel: tests/numa will skip" >&2
fi
exit 0
