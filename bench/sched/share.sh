#!/usr/bin/env bash
# bench/sched/share.sh: how one worker shares its CPU, as figures (the integration tests only
# check the behaviour; these depend on the machine's load).
#   bench/sched/share.sh BIN_DIR GUEST_DIR [BASELINE_BIN_DIR] [ROUNDS]
# For each build (the baseline first, if given), ROUNDS rounds of:
#   split:    two spinners on one worker (--quantum-ms 5) for 3 s: spin-0's share of the CPU
#             the two were charged, in % (50 is even);
#   lateness: a sleeper (20 naps of 20 ms) beside two spinners on one worker
#             (--quantum-ms 20): median and worst wake-up lateness in us.
# Prints the medians over the rounds and the load average.
set -u
BIN=${1:?usage: $0 BIN_DIR GUEST_DIR [BASELINE_BIN_DIR] [ROUNDS]}
GUESTS=$(cd "${2:?}" && pwd)
BASE=${3:-}
ROUNDS=${4:-3}
TMP=$(mktemp -d /tmp/denali-share.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# one_round BIN: prints "split_pct late_median_us late_worst_us"
one_round() {
	local bin=$1 out=$TMP/out
	"$bin/denalid" run --workers 1 --quantum-ms 5 --summary "$GUESTS/spin" \
		--with "$GUESTS/spin 3000" -- 3000 >"$out" 2>&1
	local a b
	a=$(grep -o 'spin-0: spun [0-9]* ms, on cpu [0-9]*' "$out" | awk '{print $NF}')
	b=$(grep -o 'spin-1: spun [0-9]* ms, on cpu [0-9]*' "$out" | awk '{print $NF}')
	timeout 120 "$bin/denalid" run --workers 1 --quantum-ms 20 "$GUESTS/sleeper" \
		--with "$GUESTS/spin 1500" --with "$GUESTS/spin 1500" -- 20 20 >"$out" 2>&1
	local late
	late=$(grep -o 'late [0-9]* us' "$out" | awk '{print $2}' | sort -n)
	printf '%s %s %s\n' "$(echo "${a:-0} ${b:-0}" | awk '{ s = $1 + $2; printf "%.1f", s ? 100 * $1 / s : 0 }')" \
		"$(echo "$late" | median)" "$(echo "$late" | tail -1)"
}

run_build() {
	local label=$1 bin=$2 s=() m=() w=()
	for _ in $(seq "$ROUNDS"); do
		read -r x y z <<<"$(one_round "$bin")"
		s+=("$x") m+=("$y") w+=("$z")
	done
	printf '%-10s %10s %14s %14s\n' "$label" "$(printf '%s\n' "${s[@]}" | median)" \
		"$(printf '%s\n' "${m[@]}" | median)" "$(printf '%s\n' "${w[@]}" | median)"
}

echo "share: $ROUNDS rounds, medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(split: spin-0's share of the two spinners' on-CPU time by their own clocks)"
printf '%-10s %10s %14s %14s\n' build split_pct late_median_us late_worst_us
[ -n "$BASE" ] && run_build baseline "$BASE"
run_build new "$BIN"
