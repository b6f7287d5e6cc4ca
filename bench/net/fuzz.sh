#!/usr/bin/env bash
# bench/net/fuzz.sh [SECONDS] [BUILD_DIR]: a longer fuzz run of the
# guest-libos TCP/IP stack's frame input (tests/net/fuzz_net.c) than the
# bounded one in CTest. Starts from the seed corpus and the regression
# inputs; new inputs and crash files go to a temporary directory that is
# kept only when something crashed. Prints one JSON line at the end.
set -euo pipefail
secs=${1:-300}
build=${2:-$(dirname "$0")/../../build}
src=$(cd "$(dirname "$0")/../.." && pwd)
fuzzer=$build/bin/fuzz_net
[ -x "$fuzzer" ] || { echo "fuzz.sh: $fuzzer missing; build first" >&2; exit 1; }
work=$(mktemp -d /tmp/denali-fuzz-net.XXXXXX)
mkdir -p "$work/corpus"
set +e
"$fuzzer" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work/corpus" "$build/tests/net/fuzz-net-seeds" \
	"$src/tests/net/fuzz-regress" >"$work/log" 2>&1
rc=$?
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
units=$(ls "$work/corpus" | wc -l)
crashes=$(ls "$work" | grep -c '^crash-\|^leak-\|^timeout-' || true)
tail -5 "$work/log" >&2
printf '{"bench":"fuzz-net","seconds":%s,"runs":%s,"execs_per_sec":%s,"corpus":%s,"crashes":%s,"exit":%s}\n' \
	"$secs" "${runs:-0}" "${rate:-0}" "$units" "$crashes" "$rc"
if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "fuzz.sh: artifacts kept in $work" >&2; fi
exit "$rc"
