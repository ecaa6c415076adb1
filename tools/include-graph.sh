#!/bin/sh
# include-graph.sh - the include graph between the files of daemon/,
# common/, client/ and proto/, from their #include "..." lines; fails on a
# circle.
#
# A node is a file without its extension: a .c and its own .h are one
# node (daemon/keeper = keeper.c + keeper.h), so a .c that includes its
# header is no edge; the installed headers (client/contig.h, ...) are
# nodes of their own: the library's interface, not one file's. Each header is found the way the Makefile's -I flags
# find it: in the including file's own directory first, then daemon/,
# common/, proto/, client/; a generated X.pb-c.h is proto/X (the .proto
# it is made from); anything else (system headers, build/ output such as
# contig_version.h) is no edge.
#
# Prints every node with what it includes, then the circles (tsort(1)
# finds them), then the upward dependencies: edges from a lower layer to a
# higher one of the README's map (main -> server -> rpc -> sessions ->
# pool set -> pool -> the bottom; client: public API -> wire -> proto),
# and any node the layer table below does not name. Upward edges and
# unnamed nodes are listed, not failed: they are what issue 21 is
# removing. Exit status: 0, 1 if there is a circle, 2 on a usage error.
#
# Usage: tools/include-graph.sh [--quiet]   (from anywhere in the tree)
#   --quiet   print only the circles, the upward edges and the summary
set -u

quiet=0
case ${1:-} in
--quiet) quiet=1 ;;
"") ;;
*)
	echo "usage: $0 [--quiet]" >&2
	exit 2
	;;
esac
cd "$(dirname "$0")/.." || exit 2

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# The installed headers are the library's interface, not one file's: each
# is a node of its own (client/contig.h is libcontig's API, which
# contig.c, wire.c and cache.c all implement).
PUBLIC="client/contig.h client/contig_wdm.h client/contig_dpdk.h"

node_of() {
	case " $PUBLIC " in
	*" $1 "*) echo "$1" ;;
	*) echo "${1%.[ch]}" ;;
	esac
}

# Layers, top (0) to bottom: a node may include only its own layer or a
# lower one (a higher number).
layer_of() {
	case $1 in
	daemon/main | daemon/options) echo "0 main" ;;
	daemon/server | daemon/listen | daemon/access) echo "1 server" ;;
	daemon/rpc | daemon/check | daemon/stats | daemon/metrics) echo "2 rpc" ;;
	daemon/session | daemon/session_restore | daemon/session_carve | daemon/session_int | \
		daemon/quota | daemon/restart | daemon/restart_record) echo "3 sessions" ;;
	daemon/poolset | daemon/poolplan | daemon/restore | daemon/journal | daemon/recycle)
		echo "4 pool-set" ;;
	daemon/pool | daemon/reserve) echo "5 pool" ;;
	daemon/select | daemon/frames | daemon/hugepages | daemon/pagemap | \
		daemon/mempolicy | daemon/physmem | daemon/keeper | daemon/keeperd | daemon/keepermsg | \
		daemon/config | daemon/configdefault | daemon/poolspec | daemon/size | \
		daemon/log | daemon/errmsg | daemon/state | daemon/tags)
		echo "6 bottom" ;;
	client/contig_wdm | client/contig_dpdk | client/contig_wdm.h | client/contig_dpdk.h)
		echo "0 client-api-users" ;;
	client/contig | client/cache) echo "1 client-api" ;;
	client/fastpath) echo "2 fastpath" ;;
	client/contig.h) echo "3 client-api-header" ;;
	client/error) echo "3 client-error" ;;
	client/wire) echo "2 wire" ;;
	proto/* | common/*) echo "7 proto-common" ;;
	*) echo "- unnamed" ;;
	esac
}

# Every edge "from to", sorted, without self loops. A header is resolved
# in the including file's own directory first, then daemon/, common/,
# proto/, client/ (the Makefile's -I order).
files=$(ls daemon/*.[ch] common/*.[ch] client/*.[ch] proto/*.[ch] 2>/dev/null)
protos=$(ls proto/*.proto 2>/dev/null)
for f in $files; do
	node_of "$f"
done | sort -u >"$tmp/nodelist"
# shellcheck disable=SC2086
awk -v files="$files" -v protos="$protos" -v public="$PUBLIC" '
function node(f) { return (f in pub) ? f : substr(f, 1, length(f) - 2) }
BEGIN {
	n = split(files, fl, /[ \n]+/); for (i = 1; i <= n; i++) have[fl[i]] = 1
	n = split(protos, pl, /[ \n]+/); for (i = 1; i <= n; i++) have[pl[i]] = 1
	n = split(public, ul, / +/); for (i = 1; i <= n; i++) pub[ul[i]] = 1
	ndirs = split("daemon common proto client", dirs, / /)
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
	h = $0; sub(/^[^"]*"/, "", h); sub(/".*/, "", h)
	from = node(FILENAME); to = ""
	if (h ~ /\.pb-c\.h$/) {
		base = h; sub(/\.pb-c\.h$/, "", base)
		if (("proto/" base ".proto") in have) to = "proto/" base
	} else {
		own = FILENAME; sub(/\/[^\/]*$/, "", own)
		if ((own "/" h) in have) to = node(own "/" h)
		for (i = 1; i <= ndirs && to == ""; i++)
			if ((dirs[i] "/" h) in have) to = node(dirs[i] "/" h)
	}
	if (to != "" && to != from) print from, to
}' $files | sort -u >"$tmp/edges"
sed 's/.*/& &/' "$tmp/nodelist" >"$tmp/nodes"

nnodes=$(wc -l <"$tmp/nodelist")
nedges=$(wc -l <"$tmp/edges")

if [ $quiet = 0 ]; then
	echo "# include graph: $nnodes nodes (a .c and its .h are one), $nedges edges"
	while read -r node; do
		printf '%s ->' "$node"
		awk -v n="$node" '$1 == n { printf " %s", $2 }' "$tmp/edges"
		echo
	done <"$tmp/nodelist"
fi

# Circles: tsort names the nodes of each loop it finds on stderr.
status=0
cat "$tmp/nodes" "$tmp/edges" | tsort >/dev/null 2>"$tmp/tsort" || status=1
if [ $status != 0 ]; then
	echo "# circles between files (tsort):"
	sed 's/^/#   /' "$tmp/tsort"
else
	echo "# circles: none"
fi

# Upward edges, and nodes no layer names.
nup=0
: >"$tmp/up"
while read -r from to; do
	set -- $(layer_of "$from")
	lf=$1 nf=$2
	set -- $(layer_of "$to")
	lt=$1 nt=$2
	case $lf$lt in *-*) continue ;; esac
	# The client's layers and the daemon's are separate stacks.
	case $from in client/*) case $to in daemon/*) ;; *) [ "$lt" -lt "$lf" ] && echo "$from ($nf) -> $to ($nt)" >>"$tmp/up" ;; esac ;; esac
	case $from in daemon/*) [ "$lt" -lt "$lf" ] && echo "$from ($nf) -> $to ($nt)" >>"$tmp/up" ;; esac
	case $from in proto/* | common/*) case $to in proto/* | common/*) ;; *) echo "$from ($nf) -> $to ($nt)" >>"$tmp/up" ;; esac ;; esac
done <"$tmp/edges"
nup=$(wc -l <"$tmp/up")
echo "# upward dependencies: $nup"
sed 's/^/#   /' "$tmp/up"
unnamed=$(while read -r node; do
	case $(layer_of "$node") in -*) echo "$node" ;; esac
done <"$tmp/nodelist")
if [ -n "$unnamed" ]; then
	echo "# nodes no layer names (add them to layer_of in $0):"
	echo "$unnamed" | sed 's/^/#   /'
fi
exit $status
