#!/bin/sh
# run.sh - run each bench given, then print the summary table of the run:
# every row a bench wrote with bench_summary() (bench/common.h), under the
# date, the commit and the machine it ran on. Used by `make bench`.
#
# With BENCH_LOG set (`make bench` sets bench/latest.txt), the whole run,
# every bench's own table and the summary, is also written to that file,
# whole or not at all, and the summary into BENCH_README's marked block
# (bench/README.md): the tables bench/README.md shows and points at are
# generated, never typed.
set -eu

tmp=$(mktemp -d /tmp/contigd-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export BENCH_SUMMARY="$tmp/summary"
: >"$BENCH_SUMMARY"
log=$tmp/log

commit=$(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null || echo unknown)
start=$(date +%s)
for b in "$@"; do
	printf '\n==== %s\n' "$(basename "$b")" | tee -a "$log"
	# The bench's status through the pipe (sh has no pipefail).
	{ rc=0; "$b" || rc=$?; echo "$rc" >"$tmp/rc"; } | tee -a "$log"
	rc=$(cat "$tmp/rc")
	[ "$rc" -eq 0 ] || { echo "run.sh: $(basename "$b") exited $rc" >&2; exit "$rc"; }
done
end=$(date +%s)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
{
	echo
	echo "==== summary: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) CPUs ($cpu)," \
		"$mem, Linux $(uname -r), $((end - start)) s"
	{
		printf 'section\tcase\tcontigd\tbaseline (same run)\tratio\ttarget\tresult\n'
		cat "$BENCH_SUMMARY"
	} | awk -F '\t' '
		{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
		NF > nf { nf = NF }
		END {
			for (r = 1; r <= NR; r++) {
				line = ""
				for (i = 1; i <= nf; i++)
					line = line sprintf("%-" w[i] "s  ", cell[r, i])
				sub(/ +$/, "", line)
				print line
			}
		}'
} | tee -a "$log" "$tmp/table"

if [ -n "${BENCH_LOG:-}" ]; then
	{
		echo "# Written by \`make bench\` (bench/run.sh): do not edit. Commit $commit."
		cat "$log"
	} >"$BENCH_LOG.tmp" && mv "$BENCH_LOG.tmp" "$BENCH_LOG"
	echo "run.sh: the run is in $BENCH_LOG" >&2
fi
# The summary also replaces the block between the markers in BENCH_README
# (bench/README.md), so that the README carries the table of the last run
# without anyone typing it.
if [ -n "${BENCH_LOG:-}" ] && [ -n "${BENCH_README:-}" ] &&
	grep -q '^<!-- summary: begin' "$BENCH_README" 2>/dev/null; then
	sed '/./,$!d' "$tmp/table" >"$tmp/table.trimmed"
	awk -v table="$tmp/table.trimmed" '
		/^<!-- summary: begin/ {
			print
			print "```"
			while ((getline line < table) > 0)
				print line
			print "```"
			skip = 1
			next
		}
		/^<!-- summary: end/ { skip = 0 }
		!skip { print }' "$BENCH_README" >"$BENCH_README.tmp" &&
		mv "$BENCH_README.tmp" "$BENCH_README"
	echo "run.sh: its summary is in $BENCH_README" >&2
fi
