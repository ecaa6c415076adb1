#!/bin/sh
# test_numa.sh - contigd's node rules on real multi-node Linux: boots qemu
# guests with 2 and 4 NUMA nodes (software emulation, TCG: no KVM needed)
# and runs tests/numa/numa_guest inside each, against the real daemon and
# libcontig, as the guest's init. Prints TAP; `make test` runs it under
# prove.
#
# The guests:
#   2-node: node 0 = CPU 0 + 512 MiB, node 1 = CPU 1 + 512 MiB
#   4-node: node 0 = CPU 0 + 512 MiB, node 1 = CPU 1 and no memory,
#           nodes 2 and 3 = 256 MiB each and no CPU
# The kernel is Debian's cloud kernel (`make deps OPTIONAL=1` fetches it
# into the cache once, with tests/numa/fetch_kernel.sh); the initramfs is made here from busybox-static,
# the build's contigd, contigctl and numa_guest, and the shared libraries
# ldd lists for them. /init mounts proc, sysfs, devtmpfs and tmpfs, runs
# numa_guest, prints its exit status between markers and powers off.
#
# Each guest's TAP lines are relayed as this script's own, renumbered and
# named after the guest, so prove counts every check; a guest that panics,
# hangs past its timeout (NUMA_TIMEOUT, default 300 s), or ends without its
# closing marker or with fewer results than its plan is a failed check.
#
# Environment: B, the build directory (default "build"), already built
# (`make tests`); NUMA_KERNEL, a vmlinuz to boot instead of the cached one;
# NUMA_CACHE, the kernel cache (default /var/cache/contigd-numa). Skips
# (1..0 # SKIP) when qemu-system-x86_64, busybox-static or cpio is missing,
# or no kernel can be had.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in
/*) build=$B ;;
*) build=$repo/$B ;;
esac
timeout_s=${NUMA_TIMEOUT:-300}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

command -v qemu-system-x86_64 >/dev/null 2>&1 ||
	skip_all "qemu-system-x86_64 not installed (make deps OPTIONAL=1, as root)"
busybox=
for f in /bin/busybox /usr/bin/busybox; do
	[ -x "$f" ] && busybox=$f && break
done
[ -n "$busybox" ] || skip_all "busybox not installed (make deps OPTIONAL=1, as root)"
command -v cpio >/dev/null 2>&1 || skip_all "cpio not installed (make deps OPTIONAL=1, as root)"
guest_bin=$build/tests/numa/numa_guest
[ -x "$guest_bin" ] || skip_all "$guest_bin not built (make B=$B tests)"
# The kernel is fetched by `make deps OPTIONAL=1` (tests/numa/fetch_kernel.sh),
# never here: a test run does not reach the network.
cache=${NUMA_CACHE:-/var/cache/contigd-numa}
kernel=${NUMA_KERNEL:-$(ls "$cache"/k/boot/vmlinuz-* 2>/dev/null | tail -n 1)}
if [ -n "${NUMA_KERNEL:-}" ] && [ ! -r "$NUMA_KERNEL" ]; then
	skip_all "NUMA_KERNEL=$NUMA_KERNEL cannot be read"
fi
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
	skip_all "no guest kernel in $cache (make deps OPTIONAL=1, as root, fetches it)"
fi

work=$build/numa
rm -rf "$work"
mkdir -p "$work/root" || exit 1
trap 'rm -rf "$work/root"' EXIT

# ---- the initramfs ----
root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run" \
	"$root/etc" "$root/b/tests/numa"
cp "$busybox" "$root/bin/busybox"
for f in "$build/contigd" "$build/contigctl"; do
	cp "$f" "$root/b/"
done
cp "$guest_bin" "$root/b/tests/numa/"
# The shared libraries of each binary (and the loader), at their paths.
for f in "$root/bin/busybox" "$root/b/contigd" "$root/b/contigctl" \
	"$root/b/tests/numa/numa_guest"; do
	ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'
done | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo "NUMA-GUEST-BEGIN"
/b/tests/numa/numa_guest
echo "NUMA-GUEST-END $?"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz" || {
	echo "1..1"
	echo "not ok 1 - initramfs built"
	exit 1
}

# ---- the guests ----
n=0
failed=0
report() { # ok|not ok, name
	n=$((n + 1))
	[ "$1" = ok ] || failed=$((failed + 1))
	echo "$1 $n - $2"
}

# boot NAME QEMU-ARGS...: boot a guest, relay its TAP.
boot() {
	name=$1
	shift
	log=$work/$name.log
	start=$(date +%s)
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -machine q35 -accel tcg -cpu max \
		-kernel "$kernel" -initrd "$work/initrd.gz" \
		-append 'console=ttyS0 quiet panic=-1 oops=panic' \
		-nographic -no-reboot -nodefaults -serial stdio "$@" </dev/null >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	tr -d '\r' <"$log" >"$log.txt"
	echo "# $name guest: qemu exit $rc after ${secs}s, console in $log.txt"
	plan=
	seen=0
	end=
	while IFS= read -r line; do
		case $line in
		"ok "* | "not ok "*)
			seen=$((seen + 1))
			verdict=ok
			case $line in "not ok "*) verdict="not ok" ;; esac
			report "$verdict" "$name: $(echo "$line" | sed 's/^\(not \)\{0,1\}ok [0-9]* - //')"
			;;
		"1.."*) plan=${line#1..} ;;
		"Bail out!"*) report "not ok" "$name: $line" ;;
		"#"*) echo "$line" ;;
		"NUMA-GUEST-END "*) end=${line#NUMA-GUEST-END } ;;
		*"Kernel panic"* | *"BUG:"* | *"Oops"*) echo "# $name: $line" ;;
		esac
	done <"$log.txt"
	if [ -n "$end" ] && [ "$end" = 0 ] && [ -n "$plan" ] && [ "$plan" = "$seen" ]; then
		report ok "$name: guest ran its $seen checks and exited 0 (no panic, no timeout)"
	else
		report "not ok" "$name: guest ran its checks to the end (exit ${end:-none}, plan ${plan:-none}, $seen results, qemu $rc)"
		grep -E 'Kernel panic|BUG:|Oops|Call Trace' "$log.txt" | head -n 5 | sed 's/^/#   /'
		tail -n 15 "$log.txt" | sed 's/^/#   /'
	fi
}

boot 2-node -m 1G -smp 2,sockets=2 \
	-object memory-backend-ram,id=m0,size=512M -object memory-backend-ram,id=m1,size=512M \
	-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1
boot 4-node -m 1G -smp 2,sockets=2 \
	-object memory-backend-ram,id=m0,size=512M -object memory-backend-ram,id=m2,size=256M \
	-object memory-backend-ram,id=m3,size=256M \
	-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1 \
	-numa node,nodeid=2,memdev=m2 -numa node,nodeid=3,memdev=m3

echo "1..$n"
[ "$failed" -eq 0 ]
