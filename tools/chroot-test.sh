#!/bin/sh
# chroot-test.sh - `make test` of the current tree inside a fresh Debian
# chroot, the way CI in a chroot or a container without systemd runs it.
#
#   tools/chroot-test.sh                 build the chroot once, copy the tree in, make test
#   tools/chroot-test.sh CMD [ARG...]    the same, then CMD instead of `make test`
#                                        (e.g. prove -v build/tests/integration/test_fdstore)
#   tools/chroot-test.sh --rebuild ...   debootstrap the chroot again first
#   tools/chroot-test.sh --podman ...    the same tree in a podman container whose
#                                        root is the chroot (--rootfs: no registry)
#
# The chroot is Debian's minbase plus the build's packages (tools/deps.sh
# --list), made by debootstrap once and kept in $CONTIGD_CHROOT (default
# /var/cache/contigd-chroot/<suite>); later runs reuse it. The tree (what
# git tracks plus untracked files it does not ignore: uncommitted edits
# included, no build directory) is copied to /src in it, with the tree of
# test_upgrade's older commit as /src/.old-<commit>.tar (the copy has no
# git history to build it from). Inside, only what
# a minimal CI mounts: /proc, /sys, /dev (with a tmpfs /dev/shm), and with
# CONTIGD_CHROOT_HUGETLBFS=1 a hugetlbfs on /dev/hugepages (otherwise the
# daemon mounts its own). The chroot's / is not a mount point and no
# systemd runs: the tests that need either skip and say so.
#
# Needs root. Run it under the hugepage lock where others test on the same
# machine (`flock /tmp/contigd-hugepages.lock tools/chroot-test.sh`): the
# tests in the chroot use the machine's hugepages like any `make test`.
#
# Exit status: that of the command (make test: 0 passed, else failed), or
# 77 when the chroot cannot be had here (not root, no debootstrap, no
# network for the first build), with the reason on stderr: callers such as
# .ci/run skip on 77.
#
# With --podman the container is --privileged (the daemon needs
# CAP_SYS_ADMIN and a writable /proc/sys; CONTIGD_PODMAN_PRIVILEGED=0 runs
# it without, where every test that starts the daemon skips and says why)
# and gets this shell's hard descriptor limit (podman's default would need
# CAP_SYS_RESOURCE). Podman mounts /proc, /sys and /dev itself; its root
# is a mount point, so mount propagation works there.
#
# Environment: CONTIGD_CHROOT (directory), CONTIGD_CHROOT_SUITE (default:
# this machine's Debian codename, else bookworm), CONTIGD_CHROOT_MIRROR
# (default http://deb.debian.org/debian), CONTIGD_CHROOT_HUGETLBFS (0/1);
# CONTIGD_PODMAN_OPTS, podman's global options (e.g. "--runtime runc
# --cgroup-manager cgroupfs"), CONTIGD_PODMAN_RUN_OPTS, more for `run`.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
suite=${CONTIGD_CHROOT_SUITE:-$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")}
suite=${suite:-bookworm}
mirror=${CONTIGD_CHROOT_MIRROR:-http://deb.debian.org/debian}
root=${CONTIGD_CHROOT:-/var/cache/contigd-chroot/$suite}
hugetlbfs=${CONTIGD_CHROOT_HUGETLBFS:-0}
# It is emptied in part and written to as root: never / or a relative path.
root=${root%/}
case $root in
/?*) ;;
*)
	echo "chroot-test: CONTIGD_CHROOT must be an absolute path other than /" >&2
	exit 2
	;;
esac

say() {
	echo "chroot-test: $*" >&2
}
skip() {
	say "SKIP: $*"
	exit 77
}
now() {
	date +%s
}

# ---- inside a mount namespace of our own (see the end): mount, chroot, run ----
if [ "${CONTIGD_CHROOT_STAGE:-}" = inside ]; then
	# Where this itself runs in a container that may not mount, the run
	# is skipped, not failed.
	{ mount -t proc proc "$root/proc" &&
		mount -t sysfs sysfs "$root/sys" &&
		mount --bind /dev "$root/dev" &&
		mount --make-private "$root/dev" && # nothing below reaches the real /dev
		mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm" &&
		if [ "$hugetlbfs" = 1 ]; then
			mkdir -p "$root/dev/hugepages" &&
				mount -t hugetlbfs -o pagesize=2M hugetlbfs "$root/dev/hugepages"
		fi; } || skip "cannot mount /proc, /sys, /dev in $root (messages above)"
	exec chroot "$root" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive \
		PROVE_FLAGS="${PROVE_FLAGS:-}" \
		sh -c 'cd /src && exec "$@"' sh "$@"
fi

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot, mounts)"

rebuild=
podman=
while [ $# -gt 0 ]; do
	case $1 in
	--rebuild) rebuild=1 ;;
	--podman) podman=1 ;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || set -- make test
if [ -n "$podman" ] && ! command -v podman >/dev/null 2>&1; then
	skip "no podman (apt-get install podman)"
fi

# ---- the chroot, built once ----
t0=$(now)
if [ -n "$rebuild" ] || [ ! -e "$root/.contigd-chroot" ]; then
	if ! command -v debootstrap >/dev/null 2>&1; then
		say "installing debootstrap"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q --no-install-recommends debootstrap >&2 ||
			{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends debootstrap >&2; } ||
			skip "no debootstrap, and apt-get cannot install it"
	fi
	pkgs=$("$repo/tools/deps.sh" --list | paste -sd, -)
	new=$root.new
	rm -rf "$new"
	mkdir -p "$new"
	say "debootstrap $suite (minbase + $pkgs) from $mirror into $root"
	if ! debootstrap --variant=minbase --include="$pkgs" "$suite" "$new" "$mirror" \
		>"$new.log" 2>&1; then
		tail -n 20 "$new.log" >&2
		rm -rf "$new" "$new.log"
		skip "debootstrap failed (no network or no mirror?): log above"
	fi
	rm -f "$new.log"
	# So that tools/deps.sh in there can install what the list gains later.
	cp /etc/resolv.conf "$new/etc/resolv.conf" 2>/dev/null || true
	echo "$suite $pkgs" >"$new/.contigd-chroot"
	rm -rf "$root"
	mv "$new" "$root"
	say "chroot built in $(($(now) - t0)) s"
fi

# ---- the current tree, copied in; what the last run left cleared ----
t1=$(now)
rm -rf "$root/src" "$root/tmp/"* "$root/tmp/".[!.]* "$root/run/contigd"
mkdir -p "$root/src"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$root/src"
else
	(cd "$repo" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$root/src"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# test_upgrade's older contigd is built from git history, which the copy
# lacks: that commit's tree goes in as a tar that
# tests/integration/old_contigd.sh takes instead (without it, the test skips).
from=$(sed -n 's/^UPGRADE_FROM := *//p' "$repo/Makefile")
if [ -n "$from" ] && git -C "$repo" cat-file -e "$from^{commit}" 2>/dev/null; then
	git -C "$repo" archive -o "$root/src/.old-$from.tar" "$from"
fi

# ---- run: in podman; or in a private mount namespace when there is one
# (the mounts go with it, however this ends), else mounted here and
# unmounted on exit ----
say "running '$*' in $root${podman:+ under podman} (tree copied in $(($(now) - t1)) s)"
t2=$(now)
export CONTIGD_CHROOT_STAGE=inside root hugetlbfs
set +e
if [ -n "$podman" ]; then
	# shellcheck disable=SC3045 # ulimit -H: dash's and bash's, Debian's sh
	nofile=$(ulimit -H -n)
	[ "$nofile" = unlimited ] && nofile=1048576
	priv=--privileged
	[ "${CONTIGD_PODMAN_PRIVILEGED:-1}" = 0 ] && priv=
	# shellcheck disable=SC2086
	podman ${CONTIGD_PODMAN_OPTS:-} run --rm $priv --ulimit nofile="$nofile:$nofile" \
		${CONTIGD_PODMAN_RUN_OPTS:-} --env PROVE_FLAGS="${PROVE_FLAGS:-}" --rootfs "$root" \
		sh -c 'cd /src && exec "$@"' sh "$@"
	rc=$?
elif unshare --mount --propagation private true 2>/dev/null; then
	unshare --mount --propagation private sh "$0" "$@"
	rc=$?
else
	say "no private mount namespace here: mounting in $root and unmounting after"
	cleanup() {
		for m in dev/hugepages dev/shm dev sys proc; do
			mountpoint -q "$root/$m" && umount -l "$root/$m"
		done
	}
	trap cleanup EXIT
	trap 'exit 1' INT TERM
	sh "$0" "$@"
	rc=$?
fi
say "'$*' exited $rc after $(($(now) - t2)) s in the chroot${podman:+ under podman} ($(($(now) - t0)) s in all)"
exit $rc
