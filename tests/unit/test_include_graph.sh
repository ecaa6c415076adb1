#!/bin/sh
# test_include_graph.sh - no circle between the files of daemon/, common/,
# client/ and proto/ (tools/include-graph.sh on this tree), and the tool
# itself finds one: a copy of the tree with a circle added must fail.
# Prints TAP; `make test` runs it under prove. Needs nothing but sh, awk
# and tsort.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
}

out=$("$repo/tools/include-graph.sh" --quiet 2>&1)
r=$?
echo "$out" | sed 's/^#*/#/'
if [ $r = 0 ]; then
	ok "no_circle_between_files"
else
	not_ok "no_circle_between_files (tools/include-graph.sh exits $r)"
fi

# A new file must be placed in the README's map: the tool lists a node its
# layer table does not name, and an unplaced file hides upward edges.
if echo "$out" | grep -q 'nodes no layer names'; then
	not_ok "every_file_has_a_layer (add it to layer_of in tools/include-graph.sh)"
else
	ok "every_file_has_a_layer"
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tools"
cp "$repo/tools/include-graph.sh" "$tmp/tools/"
cp -r "$repo/daemon" "$repo/common" "$repo/client" "$repo/proto" "$tmp/"
# range.c is pure C at the bottom; make it include what includes it.
echo '#include "pool.h"' >>"$tmp/common/range.c"
out=$("$tmp/tools/include-graph.sh" --quiet 2>&1)
r=$?
if [ $r = 1 ] && echo "$out" | grep -q 'common/range' && echo "$out" | grep -q 'daemon/pool'; then
	ok "a_circle_added_is_found (range -> pool -> range)"
else
	echo "$out" | sed 's/^/# /'
	not_ok "a_circle_added_is_found (exit $r)"
fi
# A .c that includes its own header is no circle.
out=$("$tmp/tools/include-graph.sh" 2>&1)
if echo "$out" | grep -q '^common/range -> .*daemon/pool' && ! echo "$out" | grep -q '^common/range -> .*common/range\b'; then
	ok "a_c_file_and_its_header_are_one_node"
else
	not_ok "a_c_file_and_its_header_are_one_node"
fi

echo "1..$n"
exit $failed
