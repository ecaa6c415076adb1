#!/bin/sh
# fetch_kernel.sh - put the kernel the NUMA guests boot in the cache, once:
# Debian's current cloud kernel (the version linux-image-cloud-amd64
# depends on), fetched with `apt-get download` and unpacked with `dpkg -x`,
# never installed. It has NUMA, hugetlbfs, memfd and pagemap built in, and
# no module is needed. Prints the path of the vmlinuz on stdout; a second
# run finds it in the cache and fetches nothing.
#
# Environment: NUMA_CACHE, the cache directory (default
# /var/cache/contigd-numa). Exits 1 with the reason on stderr if it cannot
# fetch (not root, no apt, no network).
set -eu

cache=${NUMA_CACHE:-/var/cache/contigd-numa}

found=$(ls "$cache"/k/boot/vmlinuz-*-cloud-amd64 2>/dev/null | tail -n 1 || true)
if [ -n "$found" ]; then
	echo "$found"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
	echo "fetch_kernel: no apt-get/dpkg to fetch Debian's cloud kernel" >&2
	exit 1
fi
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
	echo "fetch_kernel: apt-cache knows no linux-image-cloud-amd64 (apt-get update?)" >&2
	exit 1
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# apt's sandbox user may not write here: download as the caller.
if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2); then
	echo "fetch_kernel: apt-get download $pkg failed" >&2
	exit 1
fi
dpkg -x "$tmp"/*.deb "$tmp/k"
# Only the kernel image is kept; publish it whole or not at all.
mkdir -p "$tmp/keep/boot"
mv "$tmp"/k/boot/vmlinuz-* "$tmp/keep/boot/"
rm -rf "$cache/k"
mv "$tmp/keep" "$cache/k"
ls "$cache"/k/boot/vmlinuz-*-cloud-amd64 | tail -n 1
