#!/usr/bin/env bash
# bench/isolation/bench.sh - performance isolation, Xen style (issue 12 item 5).
#
#   bench/isolation/bench.sh [BUILD_DIR]     (default build; needs root, /dev/kvm, a tap)
#
# One `denalid serve` in a namespace of its own (bench/zipf/fleet.sh), one victim httpd VM
# (svc-0, 2,258 B object) under steady open-loop denali-load traffic at RATE req/s. The victim
# is measured alone, then beside each hog of guests/hog in turn (CPU, exits, disk flood, net
# flood to the uplink, broadcast flood, memory), RUNS rounds in that order, so every "alone"
# figure is a baseline from the same invocation. Printed per hog: medians of throughput and
# p99 and their ratios to alone (targets: >= 0.8x throughput, p99 <= 2x), the hog's own work
# rate, and the load average. With SWAP=1 the daemon runs with swap and a memory budget
# (BUDGET, 40M) that the memory hog, the victim and COLD (16) idle services do not fit: the
# swap-outs of the victim and of the others are printed (the hot victim should keep its pages).
# Env: RATE (300), DURATION (8s), RUNS (3), HOGS ("cpu exits disk net bcast mem"),
#      WORKERS (2), SERVE_OPTS (extra denalid serve options).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FLEET_BUILD=${1:-$ROOT/build}
FLEET_NAME=isolation
RATE=${RATE:-300}
DURATION=${DURATION:-8s}
RUNS=${RUNS:-3}
HOGS=${HOGS:-cpu exits disk net bcast mem}
WORKERS=${WORKERS:-2}
# shellcheck source=../zipf/fleet.sh
. "${FLEET_SH:-$ROOT/bench/zipf/fleet.sh}"
. "$ROOT/bench/isolation/hogs.sh"
fleet_check || exit 1
fleet_init
trap fleet_cleanup EXIT

opts=(--workers "$WORKERS")
NSVC=1
if [ "${SWAP:-0}" = 1 ]; then
	fleet_swap_supported || { echo "isolation: SWAP=1 but serve has no --swap" >&2; exit 1; }
	# The victim, COLD idle services and the memory hog (~32 MiB touched) do not all fit:
	# the budget must evict, and should take the cold services, never the hot victim.
	mkdir -p "$FLEET_TMP/swap"
	NSVC=$((1 + ${COLD:-16}))
	opts+=(--swap "$FLEET_TMP/swap" --mem-budget "${BUDGET:-40M}" --swap-slot 16M)
fi
# shellcheck disable=SC2086
fleet_daemon_start "${opts[@]}" ${SERVE_OPTS:-}
fleet_site "$FLEET_TMP/site" 2258
fleet_disks "$NSVC" "$FLEET_TMP/site"
fleet_start "$NSVC" 16M 64
head -n 1 "$FLEET_TMP/targets" >"$FLEET_TMP/victim" # only svc-0 gets the load
cp "$FLEET_TMP/victim" "$FLEET_TMP/targets"
truncate -s 256M "$FLEET_TMP/hog.img"
HOG_CTL=fleet_ctl
HOG_DISK=$FLEET_TMP/hog.img
HOG_GUESTS=$FLEET_GUESTS
HOG_STATE=$FLEET_TMP/state

# worker_of NAME: the worker thread the VM runs on
worker_of() {
	fleet_ctl list --json | python3 -c 'import json, sys
print(next((v.get("worker") for v in json.load(sys.stdin) if v["name"] == sys.argv[1]), "-"))' "$1"
}
VICTIM_WORKER=$(worker_of svc-0)

# swap_outs NAME: how often the VM was swapped out so far (0 without swap)
swap_outs() {
	fleet_ctl list --json | python3 -c 'import json, sys
print(next((v.get("swap_outs", 0) for v in json.load(sys.stdin) if v["name"] == sys.argv[1]), 0))' "$1"
}

# measure LABEL: one denali-load run at RATE; appends "LABEL tput p99 p50 failures
# victim-swap-outs cold-swap-outs" to results
measure() {
	local v0 c0 v1 c1
	v0=$(swap_outs svc-0)
	c0=$(fleet_ctl stats --json | python3 -c 'import json, sys
print((json.load(sys.stdin).get("swap") or {}).get("swap_outs", 0))')
	fleet_load -r "$RATE" -d "$DURATION" -w 1s --timeout 2s -q >"$FLEET_TMP/load.json"
	v1=$(swap_outs svc-0)
	c1=$(fleet_ctl stats --json | python3 -c 'import json, sys
print((json.load(sys.stdin).get("swap") or {}).get("swap_outs", 0))')
	python3 - "$FLEET_TMP/load.json" "$1" $((v1 - v0)) $((c1 - c0 - (v1 - v0))) \
		>>"$FLEET_TMP/results" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(sys.argv[2], d["throughput"], d["p99_ms"], d["p50_ms"], d["failures"], sys.argv[3], sys.argv[4])
PY
}

: >"$FLEET_TMP/results"
: >"$FLEET_TMP/hogrates"
echo "isolation: victim at $RATE req/s for $DURATION, $RUNS rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
	measure alone
	for h in $HOGS; do
		hog_start "$h" 0 || exit 1
		hog_wait_working "$h" || echo "isolation: hog-$h reported no work" >&2
		measure "$h"
		echo "$(hog_rate "$h") $(worker_of "hog-$h")" >>"$FLEET_TMP/hogrates"
		hog_stop "$h"
	done
	echo "isolation: round $r done; load $(cut -d' ' -f1-3 /proc/loadavg)"
done

python3 - "$FLEET_TMP/results" "$FLEET_TMP/hogrates" "$HOGS" "$RATE" "$VICTIM_WORKER" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rates, same = {}, {}
for l in open(sys.argv[2]):
    p = l.split()
    if len(p) >= 2:
        rates.setdefault(p[0], []).append(float(p[1]))
    if len(p) >= 3:
        same[p[0]] = p[2] == sys.argv[5]
hogs = sys.argv[3].split()
def med(label, col):
    v = [float(r[col]) for r in rows if r[0] == label]
    return statistics.median(v) if v else float("nan")
def tot(label, col):
    return sum(int(float(r[col])) for r in rows if r[0] == label)
base_t, base_p = med("alone", 1), med("alone", 2)
print("%-8s %10s %9s %9s %8s %8s %9s  %s" % ("beside", "req/s", "p50 ms", "p99 ms", "x tput",
      "x p99", "failures", "hog work (median /s), on the victim's worker?"))
out = {"bench": "isolation", "rate": float(sys.argv[4]), "alone": {"rps": base_t, "p99_ms": base_p}}
print("%-8s %10.1f %9.3f %9.3f %8s %8s %9d" % ("alone", base_t, med("alone", 3), base_p, "1.00",
      "1.00", tot("alone", 4)))
for h in hogs:
    t, p = med(h, 1), med(h, 2)
    rt, rp = t / base_t if base_t else 0, p / base_p if base_p else 0
    ok = "ok" if rt >= 0.8 and rp <= 2 else "MISSED"
    hr = statistics.median(rates[h]) if h in rates else 0
    sw = {True: "same worker", False: "other worker"}.get(same.get(h), "?")
    print("%-8s %10.1f %9.3f %9.3f %8.2f %8.2f %9d  %.0f, %s  %s" % (h, t, med(h, 3), p, rt, rp,
          tot(h, 4), hr, sw, ok))
    out[h] = {"rps": t, "p99_ms": p, "tput_ratio": round(rt, 3), "p99_ratio": round(rp, 3),
              "failures": tot(h, 4), "hog_rate": hr, "same_worker": same.get(h),
              "victim_swap_outs": tot(h, 5), "other_swap_outs": tot(h, 6),
              "target_met": ok == "ok"}
    if tot(h, 5) or tot(h, 6):
        print("%-8s swap-outs during the runs: victim %d, the cold services %d" % ("", tot(h, 5),
              tot(h, 6)))
print("targets: throughput >= 0.8x alone, p99 <= 2x alone (medians of the rounds)")
print(json.dumps(out))
PY
echo "isolation: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
