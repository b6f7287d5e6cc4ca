#!/usr/bin/env bash
# bench/density/starts.sh: the start rate of bench/density (0 -> 1,000 live VMs, real VM
# creation: a VM counts once it has run to its first IDLE), this build against a baseline build,
# in one invocation.
#   bench/density/starts.sh BIN_DIR [BASELINE_BIN_DIR] [ROUNDS] [N]
# Each round runs denali-bench-density --max N (default 1000) once per build, the builds taking
# turns (so that both see the same load), with its other parts cut short. Each run gives three
# 0 -> N phases: first_1k (into the empty process), 1k (after the switch rounds) and after_1k
# (after teardown); min_1k is the slowest of the three (the issue's target: >= 2,000/s).
# Prints the medians over ROUNDS (default 5) of each phase's VMs/s and CPU per start, the
# ratio new/baseline, and the load average before and after. Figures, not assertions.
set -u
BIN=${1:?usage: $0 BIN_DIR [BASELINE_BIN_DIR] [ROUNDS] [N]}
BASE=${2:-}
ROUNDS=${3:-5}
N=${4:-1000}
TMP=$(mktemp -d /tmp/denali-starts.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (!NR) print "nan"; else print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# run LABEL BIN: one bench run; appends its JSON line to $TMP/LABEL.json
run() {
	local rc out
	"$2/denali-bench-density" --max "$N" --idle-seconds 1 --wakes 100 --rounds 1 \
		--switch-seconds 0.2 >"$TMP/$1.out" 2>"$TMP/$1.err"
	rc=$?
	if [ $rc -eq 77 ]; then
		echo "starts.sh: skipped: $(tail -1 "$TMP/$1.err")"
		exit 77
	fi
	out=$(grep '^{"bench"' "$TMP/$1.out")
	[ $rc -eq 0 ] && [ -n "$out" ] || { echo "starts.sh: $1: exit $rc, no result"; cat "$TMP/$1.err"; exit 1; }
	echo "$out" >>"$TMP/$1.json"
}

LABELS=(new)
[ -n "$BASE" ] && LABELS=(base new)
echo "starts.sh: $ROUNDS rounds of 0 -> $N, builds: ${LABELS[*]}; load before: $(load)"
for r in $(seq "$ROUNDS"); do
	for l in "${LABELS[@]}"; do
		if [ "$l" = base ]; then run base "$BASE"; else run new "$BIN"; fi
	done
	echo " round $r/$ROUNDS done (load $(load))"
done

# field LABEL JQ: the median of a jq expression over LABEL's runs
field() { jq -r "$2 // \"nan\"" "$TMP/$1.json" | median; }
declare -A M
for l in "${LABELS[@]}"; do
	for k in first_1k 1k after_1k; do
		M[$l.$k]=$(field "$l" ".start[\"$k\"].vms_per_s")
		M[$l.$k.cpu]=$(field "$l" ".start[\"$k\"].cpu_us_per_start")
	done
	M[$l.min]=$(field "$l" ".start.min_1k_vms_per_s")
	printf "%-4s starts/s (median of %s): first_1k %6.0f  1k %6.0f  after_1k %6.0f  min_1k %6.0f;" \
		"$l" "$ROUNDS" "${M[$l.first_1k]}" "${M[$l.1k]}" "${M[$l.after_1k]}" "${M[$l.min]}"
	printf " CPU us per start %4.0f %4.0f %4.0f\n" "${M[$l.first_1k.cpu]}" "${M[$l.1k.cpu]}" \
		"${M[$l.after_1k.cpu]}"
	printf "     min_1k of each run:"
	jq -r '.start.min_1k_vms_per_s' "$TMP/$l.json" | tr '\n' ' '
	echo
done
if [ -n "$BASE" ]; then
	awk -v n="${M[new.min]}" -v b="${M[base.min]}" -v f="${M[new.first_1k]}" -v fb="${M[base.first_1k]}" \
		'BEGIN {printf "ratio new/base: min_1k %.2fx, first_1k %.2fx\n", (b > 0 ? n / b : 0), (fb > 0 ? f / fb : 0)}'
fi
echo "load after: $(load)"
