#!/bin/sh
# run.sh - run each bench given, then print the summary table of the run:
# every row a bench wrote with bench_summary() (bench/common.h), under the
# date and the machine it ran on. Used by `make bench`.
set -eu

summary=$(mktemp /tmp/contigd-bench-summary.XXXXXX)
trap 'rm -f "$summary"' EXIT
export BENCH_SUMMARY="$summary"

start=$(date +%s)
for b in "$@"; do
	echo
	echo "==== $(basename "$b")"
	"$b"
done
end=$(date +%s)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
echo
echo "==== summary: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu), $mem," \
	"Linux $(uname -r), $((end - start)) s"
{
	printf 'section\tcase\tcontigd\tbaseline (same run)\tratio\ttarget\tresult\n'
	cat "$summary"
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
