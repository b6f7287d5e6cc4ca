#!/usr/bin/env bash
# bench/fuzz/run.sh: the long fuzz runs (CTest runs each target briefly).
#
#   bench/fuzz/run.sh [-t SECONDS] [-b BUILD_DIR] [TARGET...]
#
# Runs each fuzz target (default: fuzz_http fuzz_rofs) for SECONDS (default
# 120) from its seed corpus, in a scratch corpus under /tmp that is removed
# afterwards, and prints executions, exec/s, coverage, corpus size and
# crashes per target, then one JSON line. A crash leaves its input in
# /tmp/denali-fuzz-crashes/ and makes the exit status 1: turn it into a
# regression test (tests/httpd/regress/ or the rofs tests).
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=120
build=build
while getopts "t:b:h" o; do
	case $o in
	t) secs=$OPTARG ;;
	b) build=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_http fuzz_rofs)

seeds_for() {
	case $1 in
	fuzz_http) echo tests/httpd/corpus ;;
	fuzz_rofs) echo "$build/tests/rofs/fuzz-rofs-seeds" ;;
	*) echo "" ;;
	esac
}

maxlen_for() {
	case $1 in
	fuzz_rofs) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

work=$(mktemp -d /tmp/denali-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
crashdir=/tmp/denali-fuzz-crashes
mkdir -p "$crashdir"
json="{\"bench\":\"fuzz\",\"seconds\":$secs"
status=0

for t in "${targets[@]}"; do
	bin="$build/bin/$t"
	if [ ! -x "$bin" ]; then
		echo "$t: $bin not built, skipped"
		continue
	fi
	mkdir -p "$work/$t"
	before=$(ls "$crashdir" | wc -l)
	"$bin" -max_total_time="$secs" -max_len="$(maxlen_for "$t")" -print_final_stats=1 \
		-artifact_prefix="$crashdir/$t-" "$work/$t" $(seeds_for "$t") >"$work/$t.log" 2>&1 || true
	after=$(ls "$crashdir" | wc -l)
	crashes=$((after - before))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$work/$t.log" | tail -1 || true)
	cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
	if [ -z "$runs" ]; then # the fallback driver prints one summary line
		line=$(grep '^fuzz_driver:' "$work/$t.log" | tail -1 || true)
		runs=$(sed -n 's/.*, \([0-9]*\) mutants.*/\1/p' <<<"$line")
		eps=$(sed -n 's/.* \([0-9]*\) exec\/s.*/\1/p' <<<"$line")
	fi
	printf '%-10s %10s runs %8s exec/s  cov %5s  features %6s  corpus %5s  crashes %d\n' \
		"$t" "${runs:-?}" "${eps:-?}" "${cov:--}" "${ft:--}" "${corp:--}" "$crashes"
	if [ "$crashes" -gt 0 ]; then
		status=1
		tail -40 "$work/$t.log"
	fi
	json+=",\"$t\":{\"runs\":${runs:-0},\"exec_per_s\":${eps:-0},\"cov\":${cov:-0},\"features\":${ft:-0},\"crashes\":$crashes}"
done
echo "$json}"
exit $status
