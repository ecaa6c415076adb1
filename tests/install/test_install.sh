#!/bin/sh
# test_install.sh - `make install` into a temporary DESTDIR, then the
# installed tree checked file by file and used as an operator and a driver
# author would: the units verified by systemd-analyze, the man pages
# rendered, a client built out of the tree with nothing but pkg-config and
# run against the installed daemon (started both ways the units start it).
# Prints TAP; `make test` runs it under prove.
#
# Environment: B, the build directory (default "build", relative to the
# repository), already built: this script runs `make install` and
# `make uninstall`, which then only copy files. It needs root and free
# hugepages for the daemon (skipped otherwise, as are the checks whose tool
# is missing: systemd-analyze, pkg-config, man).
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in
/*) build=$B ;;
*) build=$repo/$B ;;
esac

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/#   /'
	return 0
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
have() {
	command -v "$1" >/dev/null 2>&1
}

echo "1..14"

tmp=$(mktemp -d /tmp/contigd-install.XXXXXX) || exit 1
root=$tmp/root    # DESTDIR of the PREFIX=/usr install
prefix=$tmp/prefix # PREFIX of the second install (no DESTDIR): real paths
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# make, with nothing of a parent make (this runs under `make test`: no
# jobserver to share, no command-line variables to inherit) and none of the
# install variables from the environment.
run_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u DESTDIR \
		make -C "$repo" --no-print-directory B="$B" "$@"
}

# ---- 1: the install itself ----
if out=$(run_make install DESTDIR="$root" PREFIX=/usr 2>&1); then
	ok "make_install_with_destdir_and_prefix_usr"
else
	not_ok "make_install_with_destdir_and_prefix_usr" "$out"
fi

# ---- 2: every file where it belongs, with its mode ----
conf=
[ -e "$repo/etc/contigd.conf" ] && conf="etc/contigd/contigd.conf:644"
man3_links="contig_alloc_req_init contig_connect contig_disconnect contig_alloc
	contig_alloc_many contig_free_many contig_set_busy_poll contig_free
	contig_free_checked contig_virt_to_phys contig_buffer_of contig_get_stats contig_get_segments contig_get_pool_windows
	contig_get_counters
	contig_report_misuse contig_last_message contig_list_buffers contig_list_frames
	contig_sync_for_device contig_sync_for_cpu contig_copy_to_wc contig_get_cache_info
	MmAllocateContiguousMemory
	MmAllocateContiguousMemorySpecifyCache MmAllocateContiguousMemorySpecifyCacheNode
	MmFreeContiguousMemory MmFreeContiguousMemorySpecifyCache MmGetPhysicalAddress
	NdisAllocateMemoryWithTagPriority NdisFreeMemory ContigWdmClient"
# libcontig_dpdk is built and installed only where libdpdk-dev is.
dpdk=
pkg-config --exists libdpdk 2>/dev/null &&
	dpdk="usr/lib/libcontig_dpdk.a:644 usr/include/contig_dpdk.h:644"
expected="
usr/sbin/contigd:755
usr/bin/contigctl:755
usr/lib/libcontig.so.1:755
usr/lib/libcontig.a:644
usr/include/contig.h:644
usr/include/contig_wdm.h:644
usr/lib/pkgconfig/contig.pc:644
lib/systemd/system/contigd.service:644
lib/systemd/system/contigd.socket:644
lib/systemd/system/contigd-metrics.service:644
lib/systemd/system/contigd-metrics.timer:644
etc/cdi/contigd.json:644
usr/lib/sysusers.d/contigd.conf:644
usr/share/man/man8/contigd.8:644
usr/share/man/man1/contigctl.1:644
usr/share/man/man3/libcontig.3:644
usr/share/doc/contigd/README.md:644
$conf
$dpdk
$(for f in $man3_links; do echo "usr/share/man/man3/$f.3:644"; done)
"
why=
for entry in $expected; do
	path=${entry%:*}
	mode=${entry##*:}
	if [ ! -f "$root/$path" ]; then
		why="$why
missing: $path"
	elif [ "$(stat -c %a "$root/$path")" != "$mode" ]; then
		why="$why
$path: mode $(stat -c %a "$root/$path"), expected $mode"
	fi
done
if [ "$(readlink "$root/usr/lib/libcontig.so" 2>/dev/null)" != "libcontig.so.1" ]; then
	why="$why
usr/lib/libcontig.so is not a symlink to libcontig.so.1"
fi
# Nothing else: every installed file is one of the above.
extra=$(cd "$root" 2>/dev/null && find . \( -type f -o -type l \) | sed 's|^\./||' | while read -r f; do
	case " $(echo $expected) usr/lib/libcontig.so " in
	*" $f:"* | *" $f "*) ;;
	*) echo "unexpected: $f" ;;
	esac
done)
[ -n "$extra" ] && why="$why
$extra"
if [ -z "$why" ]; then
	ok "every_installed_file_is_in_place_with_its_mode"
else
	not_ok "every_installed_file_is_in_place_with_its_mode" "$why"
fi

# ---- 3: the shared library ----
if ! have readelf; then
	skip "libcontig_so_1_has_soname_libcontig_so_1_and_exports_only_the_api" "no readelf"
else
	so=$root/usr/lib/libcontig.so.1
	soname=$(readelf -d "$so" 2>&1 | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
	# Only what the headers declare: contig_*, the Windows routines.
	exports=$(readelf --dyn-syms -W "$so" 2>/dev/null |
		awk '$5 == "GLOBAL" && $7 != "UND" && $4 != "NOTYPE" { print $8 }' | sed 's/@.*//' |
		grep -v -E '^(contig_[a-z_]+|Mm[A-Za-z]+|Ndis[A-Za-z]+|ContigWdmClient)$')
	if [ "$soname" = "libcontig.so.1" ] && [ -z "$exports" ]; then
		ok "libcontig_so_1_has_soname_libcontig_so_1_and_exports_only_the_api"
	else
		not_ok "libcontig_so_1_has_soname_libcontig_so_1_and_exports_only_the_api" \
			"SONAME '$soname'; exported beyond the API: $exports"
	fi
fi

# ---- 4: generated files name the installed paths ----
unit=$root/lib/systemd/system/contigd.service
pc=$root/usr/lib/pkgconfig/contig.pc
why=
grep -q '^ExecStart=/usr/sbin/contigd --config /etc/contigd/contigd.conf$' "$unit" 2>/dev/null ||
	why="$why
$unit: no ExecStart=/usr/sbin/contigd --config /etc/contigd/contigd.conf"
grep -q '^prefix=/usr$' "$pc" 2>/dev/null || why="$why
$pc: no prefix=/usr"
left=$(grep -l '@[A-Z_]*@' "$unit" "$pc" 2>&1)
[ -n "$left" ] && why="$why
unsubstituted @NAME@ in: $left"
if [ -z "$why" ]; then
	ok "unit_and_pc_file_name_the_installed_paths"
else
	not_ok "unit_and_pc_file_name_the_installed_paths" "$why"
fi

# ---- 5: the shipped configuration is one the daemon accepts ----
if [ -z "$conf" ]; then
	skip "shipped_configuration_is_valid" "etc/contigd.conf is not in the tree yet"
elif out=$("$root/usr/sbin/contigd" --check-config "$root/etc/contigd/contigd.conf" 2>&1); then
	ok "shipped_configuration_is_valid"
else
	not_ok "shipped_configuration_is_valid" "$out"
fi

# ---- 6: systemd-analyze verify ----
# verify needs the ExecStart binary and the units' dependencies
# (sysinit.target, ...) to exist, so it cannot run on the DESTDIR tree with
# --root (systemd 252 then finds no sysinit.target). A second install under
# a temporary PREFIX, without DESTDIR, gives units whose paths are real;
# MANPATH lets it check the Documentation=man: pages too.
if ! have systemd-analyze; then
	skip "systemd_analyze_verify_passes_on_the_installed_units" "no systemd-analyze"
elif ! out=$(run_make install PREFIX="$prefix" CDIDIR="$prefix/etc/cdi" 2>&1); then
	not_ok "systemd_analyze_verify_passes_on_the_installed_units" "make install PREFIX=$prefix: $out"
else
	units="$prefix/lib/systemd/system/contigd.service $prefix/lib/systemd/system/contigd.socket
		$prefix/lib/systemd/system/contigd-metrics.service
		$prefix/lib/systemd/system/contigd-metrics.timer"
	# shellcheck disable=SC2086
	out=$(MANPATH=$prefix/share/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify $units 2>&1)
	rc=$?
	# Unknown keys and the like are only warnings: any output fails too.
	if [ $rc -eq 0 ] && [ -z "$out" ]; then
		ok "systemd_analyze_verify_passes_on_the_installed_units"
	else
		not_ok "systemd_analyze_verify_passes_on_the_installed_units" "exit $rc: $out"
	fi
	score=$(systemd-analyze security --offline=yes "$prefix/lib/systemd/system/contigd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for contigd.service: //p')
	[ -n "$score" ] && echo "# systemd-analyze security: exposure $score"
fi

# ---- 7: man pages ----
if ! have man || ! have groff; then
	skip "man_pages_render_without_warnings" "no man or groff (apt-get install man-db groff-base)"
else
	why=
	for page in "$root"/usr/share/man/man8/contigd.8 "$root"/usr/share/man/man1/contigctl.1 \
		"$root"/usr/share/man/man3/libcontig.3; do
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
		[ -n "$w" ] && why="$why
$page: $w"
		w=$(groff -man -ww -z "$page" 2>&1)
		[ -n "$w" ] && why="$why
$page: $w"
	done
	# A function's page leads to libcontig(3).
	for f in contig_alloc MmAllocateContiguousMemorySpecifyCacheNode; do
		text=$(LC_ALL=C.UTF-8 MANWIDTH=80 MANPATH=$root/usr/share/man man 3 "$f" 2>&1)
		case $text in
		*LIBCONTIG*) ;;
		*) why="$why
man 3 $f does not show libcontig(3): $(echo "$text" | head -3)" ;;
		esac
	done
	if [ -z "$why" ]; then
		ok "man_pages_render_without_warnings"
	else
		not_ok "man_pages_render_without_warnings" "$why"
	fi
fi

# ---- 8-10: an out-of-tree client, with nothing but pkg-config ----
client=$tmp/client
client_static=$tmp/client_static
built=
if ! have pkg-config; then
	skip "out_of_tree_client_builds_with_pkg_config_only" "no pkg-config"
	skip "out_of_tree_client_links_the_installed_libcontig_so_1" "no pkg-config"
	skip "static_client_builds_with_pkg_config_static" "no pkg-config"
else
	# The sysroot is prepended to the -I and -L paths: they point into the
	# DESTDIR tree.
	pcflags() {
		PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/usr/lib/pkgconfig \
			pkg-config "$@" contig
	}
	if flags=$(pcflags --cflags --libs 2>&1) &&
		out=$(cd "$tmp" && cp "$here/client.c" . &&
			cc -std=c11 -Wall -Wextra -Werror -o "$client" client.c $flags 2>&1); then
		built=1
		ok "out_of_tree_client_builds_with_pkg_config_only"
	else
		not_ok "out_of_tree_client_builds_with_pkg_config_only" "pkg-config: $flags
$out"
	fi
	if [ -n "$built" ] && lib=$(LD_LIBRARY_PATH=$root/usr/lib ldd "$client" 2>&1 |
		sed -n 's/.*libcontig\.so\.1 => \([^ ]*\).*/\1/p') && [ "$lib" = "$root/usr/lib/libcontig.so.1" ]; then
		ok "out_of_tree_client_links_the_installed_libcontig_so_1"
	else
		not_ok "out_of_tree_client_links_the_installed_libcontig_so_1" "resolved to '${lib:-}'"
	fi
	# libcontig.a with the Libs.private of --static; nothing of libcontig
	# is then loaded at run time.
	if flags=$(pcflags --cflags --libs --static 2>&1) &&
		out=$(cd "$tmp" && cc -std=c11 -Wall -Wextra -Werror -o "$client_static" client.c \
			-Wl,-Bstatic -L"$root/usr/lib" -lcontig -Wl,-Bdynamic $flags 2>&1) &&
		! ldd "$client_static" 2>&1 | grep -q libcontig; then
		ok "static_client_builds_with_pkg_config_static"
	else
		not_ok "static_client_builds_with_pkg_config_static" "pkg-config: $flags
$out"
	fi
fi

# ---- 11-12: the installed daemon, sandboxed as the unit sandboxes it ----
# The unit's CapabilityBoundingSet=, no_new_privs, a mount namespace of its
# own (its hugetlbfs mounts stay there) and a network namespace of its own
# (clients reach it by path): what systemd would add but cannot here.
sbin=$root/usr/sbin/contigd
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" 2>/dev/null |
	tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_\(.*\)/+\1/p' | paste -sd, -)
# Used as `$sandbox --bounding-set=... -- COMMAND...`: words, not a shell
# function, so that the background job is the daemon itself (unshare and
# setpriv exec it) and not a subshell around it.
#
# The namespaces are what this machine allows: in a chroot "/" is no mount
# point, so its propagation cannot be made private (unshare: "cannot change
# root filesystem propagation"), and a container may allow no namespaces at
# all. The daemon then runs without them (its mounts in the real
# /run/contigd, as in every integration test), and a TAP comment says so:
# the checks are about the installed daemon under the unit's capabilities.
namespaces="unshare --mount --propagation private --net"
capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status 2>/dev/null)
free2m=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
why_not_daemon=
# shellcheck disable=SC3045 # ulimit -H: dash's and bash's, Debian's sh
if [ "$(id -u)" -ne 0 ]; then
	why_not_daemon="not root: the daemon needs CAP_SYS_ADMIN and hugepages"
elif [ -z "$capeff" ] || [ $((0x$capeff >> 21 & 1)) -ne 1 ]; then
	why_not_daemon="no CAP_SYS_ADMIN (an unprivileged container?): the daemon needs it"
elif [ "$free2m" -lt 4 ] && ! [ -w /proc/sys/vm/nr_hugepages ]; then
	why_not_daemon="$free2m free 2 MiB hugepages and /proc/sys/vm/nr_hugepages is read-only"
elif [ -z "$built" ]; then
	why_not_daemon="the client did not build"
elif ! have unshare || ! have setpriv || [ -z "$caps" ]; then
	why_not_daemon="no unshare/setpriv (util-linux), or no CapabilityBoundingSet= in the unit"
elif hard=$(ulimit -H -n) && [ "$hard" != unlimited ] && [ "$hard" -lt 2048 ] &&
	! ulimit -H -n "$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)" 2>/dev/null; then
	# The unit's LimitNOFILE= is what the daemon counts on; a container's
	# 1024 is too few for max_connections and the frames.
	why_not_daemon="the hard descriptor limit is $hard and cannot be raised (ulimit -Hn)"
elif ! why_ns=$($namespaces true 2>&1); then
	if unshare --net true 2>/dev/null; then
		namespaces="unshare --net"
		echo "# no private mount namespace here ($(echo $why_ns)): the daemon runs in this one"
	else
		namespaces=
		echo "# no namespaces here ($(echo $why_ns)): the daemon runs in this machine's"
	fi
fi
sandbox="$namespaces setpriv --no-new-privs --inh-caps=-all"
config_args=
[ -n "$conf" ] && config_args="--config $root/etc/contigd/contigd.conf"

# Stop the daemon with SIGTERM; its exit status.
stop_daemon() {
	kill -TERM "$daemon_pid" 2>/dev/null
	wait "$daemon_pid"
	status=$?
	daemon_pid=
	[ $status -eq 0 ] || echo "# the daemon exited with status $status after SIGTERM"
	return $status
}

# 11: the daemon binds the socket itself (its own socket path): poll until
# contigctl gets an answer, at most 30 s, failing at once if it died.
if [ -n "$why_not_daemon" ]; then
	skip "sandboxed_daemon_serves_an_out_of_tree_client" "$why_not_daemon"
else
	sock=$tmp/own.sock
	# shellcheck disable=SC2086
	$sandbox --bounding-set="-all,$caps" -- \
		"$sbin" $config_args --socket "$sock" --pool 0:2M:8M 2>"$tmp/own.log" &
	daemon_pid=$!
	ready=
	tries=0
	while [ $tries -lt 300 ] && kill -0 "$daemon_pid" 2>/dev/null; do
		if LD_LIBRARY_PATH=$root/usr/lib "$root/usr/bin/contigctl" --socket "$sock" status \
			>/dev/null 2>&1; then
			ready=1
			break
		fi
		tries=$((tries + 1))
		sleep 0.1
	done
	out=
	[ -n "$ready" ] && out=$(LD_LIBRARY_PATH=$root/usr/lib "$client" "$sock" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	if [ -n "$ready" ] && [ $rc -eq 0 ] && stop_daemon; then
		ok "sandboxed_daemon_serves_an_out_of_tree_client"
	else
		[ -n "$daemon_pid" ] && stop_daemon
		not_ok "sandboxed_daemon_serves_an_out_of_tree_client" "ready '$ready', client exit $rc: $out
daemon: $(cat "$tmp/own.log")"
	fi
fi

# 12: socket activation, as contigd.socket does it: the socket exists
# before the daemon has reserved anything, and a client that connects at
# once is answered once every frame is in.
if [ -n "$why_not_daemon" ]; then
	skip "client_of_a_socket_activated_daemon_is_served_once_it_is_ready" "$why_not_daemon"
elif ! have systemd-socket-activate; then
	skip "client_of_a_socket_activated_daemon_is_served_once_it_is_ready" "no systemd-socket-activate"
else
	sock=$tmp/activated.sock
	# --socket names the instance (its frame directory) after this path.
	# shellcheck disable=SC2086
	systemd-socket-activate --seqpacket --listen="$sock" \
		$sandbox --bounding-set="-all,$caps" -- \
		"$sbin" $config_args --socket "$sock" --pool 0:2M:8M 2>"$tmp/activated.log" &
	daemon_pid=$!
	tries=0
	while [ $tries -lt 100 ] && [ ! -S "$sock" ] && kill -0 "$daemon_pid" 2>/dev/null; do
		tries=$((tries + 1))
		sleep 0.1
	done
	out=$(LD_LIBRARY_PATH=$root/usr/lib "$client" "$sock" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	if [ $rc -eq 0 ] && grep -q "ready" "$tmp/activated.log" && stop_daemon; then
		ok "client_of_a_socket_activated_daemon_is_served_once_it_is_ready"
	else
		[ -n "$daemon_pid" ] && stop_daemon
		not_ok "client_of_a_socket_activated_daemon_is_served_once_it_is_ready" \
			"client exit $rc: $out
daemon: $(cat "$tmp/activated.log")"
	fi
fi

# ---- 13: one version: --version, the .pc file, the soname, the man pages ----
version=$(sed -n 's/^Version: //p' "$pc" 2>/dev/null)
if ! have readelf; then
	skip "contigd_and_contigctl_print_the_version_of_the_pc_file_and_the_soname" "no readelf"
else
	soname=$(readelf -d "$root/usr/lib/libcontig.so.1" 2>&1 | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
	daemon_says=$("$root/usr/sbin/contigd" --version 2>&1)
	ctl_says=$(LD_LIBRARY_PATH=$root/usr/lib "$root/usr/bin/contigctl" --version 2>&1)
	why=
	[ -n "$version" ] || why="$why
$pc: no Version:"
	[ "$soname" = "libcontig.so.${version%%.*}" ] || why="$why
soname '$soname' is not libcontig.so. and the first number of Version: $version"
	[ "$(echo "$daemon_says" | head -n 1)" = "contigd $version" ] || why="$why
contigd --version: $daemon_says"
	case $(echo "$ctl_says" | head -n 1) in
	"contigctl $version") ;;
	*) why="$why
contigctl --version: $ctl_says" ;;
	esac
	case $ctl_says in
	*"libcontig $version ($soname)"*) ;;
	*) why="$why
contigctl --version does not name libcontig $version ($soname): $ctl_says" ;;
	esac
	for page in man8/contigd.8 man1/contigctl.1 man3/libcontig.3; do
		grep -q "^\.TH .* \"contigd $version\"" "$root/usr/share/man/$page" ||
			why="$why
$page: .TH does not say \"contigd $version\""
	done
	if [ -z "$why" ]; then
		ok "contigd_and_contigctl_print_the_version_of_the_pc_file_and_the_soname"
	else
		not_ok "contigd_and_contigctl_print_the_version_of_the_pc_file_and_the_soname" "$why"
	fi
fi

# ---- 14: uninstall leaves nothing ----
if out=$(run_make uninstall DESTDIR="$root" PREFIX=/usr 2>&1) &&
	left=$(cd "$root" && find . \( -type f -o -type l \)) && [ -z "$left" ]; then
	ok "make_uninstall_removes_every_installed_file"
else
	not_ok "make_uninstall_removes_every_installed_file" "$out
left: ${left:-}"
fi

exit $((failed > 0))
