#!/bin/sh
# old_contigd.sh - the contigd of an older commit of this repository, for
# test_upgrade (a daemon of today adopts the frames and journal an older
# one left across a restart).
#
#   tests/integration/old_contigd.sh COMMIT OUT
#
# Builds contigd as COMMIT has it into OUT (e.g. build/old-1d62163/contigd),
# once: an existing OUT is kept. The commit's tree comes from this
# repository's git history (`git archive`), or from .old-COMMIT.tar at the
# top of the tree where tools/chroot-test.sh put it, is built in a temporary
# directory outside the build directory (the top Makefile includes every
# *.d file under it, and the old tree's would name files that no longer
# exist) and removed afterwards.
#
# DESIGN: owns the old binary and OUT.why. Where the commit cannot be had
# (no git, no history, no tar: a copy of the tree, a shallow clone) it
# writes the reason to OUT.why and exits 0, and test_upgrade skips with
# that reason; a commit that is there but does not
# build is an error (exit 1, the build's output on stderr). Never touches
# the current tree's build.
set -eu

commit=$1
out=$2
why=$out.why

[ -x "$out" ] && exit 0
mkdir -p "$(dirname "$out")"
rm -f "$why"

repo=$(cd "$(dirname "$0")/../.." && pwd)
# What tools/chroot-test.sh puts beside a copy of the tree without history.
given=$repo/.old-$commit.tar
cannot() {
	echo "$*" > "$why"
	echo "old_contigd: $* (test_upgrade skips)" >&2
	exit 0
}
if [ ! -f "$given" ]; then
	command -v git >/dev/null 2>&1 || cannot "git is not installed"
	git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 ||
		cannot "$repo is not a git repository (a copy of the tree without its history)"
	git -C "$repo" cat-file -e "$commit^{commit}" 2>/dev/null ||
		cannot "commit $commit is not in this repository's history (a shallow clone?)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/contigd-old.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ -f "$given" ]; then
	tar -x -C "$tmp" -f "$given"
else
	git -C "$repo" archive "$commit" | tar -x -C "$tmp"
fi
# Only the daemon, with the compiler and flags of its own Makefile: none of
# the calling make's variables (make asan's CC, its B; make exports those
# given on its command line) are passed down.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u CC -u CXX -u CFLAGS \
	-u LDFLAGS -u B make -C "$tmp" -j4 B=build build/contigd > "$tmp/make.log" 2>&1; then
	cat "$tmp/make.log" >&2
	echo "old_contigd: contigd of $commit does not build (above)" >&2
	exit 1
fi
cp "$tmp/build/contigd" "$out.tmp"
mv "$out.tmp" "$out"
echo "old_contigd: built contigd of $commit as $out"
