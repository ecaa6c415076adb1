#!/bin/sh
# deps.sh - make sure the Debian packages contigd builds and tests with are
# installed. As root, install what is missing (non-interactively); otherwise
# say exactly what to run. Called by `make run`, `make test`, `make bench`.
# `deps.sh --list` prints the package names, one a line, and nothing else
# (tools/chroot-test.sh builds its chroot with them).
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
if [ "${1:-}" = --list ]; then
	for entry in $need; do
		echo "${entry%%:*}"
	done
	exit 0
fi

missing=""
for entry in $need; do
	pkg=${entry%%:*}
	file=${entry#*:}
	[ -e "$file" ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "contigd needs these Debian packages:$missing" >&2
	echo "run as root:  apt-get install -y$missing   (or run this make target as root)" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $missing >&2; then
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends $missing >&2
fi
