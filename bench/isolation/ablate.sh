#!/usr/bin/env bash
# bench/isolation/ablate.sh - Denali's ablations of batched events and idle-with-timeout
# (issue 12 item 3), same invocation, same workload, ratios against the default.
#
#   bench/isolation/ablate.sh [BUILD_DIR]   (default build; needs root, /dev/kvm, a tap)
#
# For each number of services N in SERVICES and each round: a fresh `denalid serve`
# (bench/zipf/fleet.sh) with N httpd VMs (2,258 B object, own disk each), driven by
# denali-load closed loop (CONC requests outstanding, Zipf(ALPHA) over the services) for
# DURATION, once per variant, the variants interleaved within the round:
#   default     the daemon and the guest as they are;
#   unbatched   denalid serve --events-unbatched (one pending event per guest entry);
#   poll        httpd --poll (zero-timeout idles, the VM never leaves the run queue);
#   no-prefault, unit-small, unit-large   the swap engineer's switches (--swap-no-prefault,
#               --swap-unit 16K / 1M), with a budget of half the fleet, only when SWAP=1 and
#               denalid serve takes them (their default run is then "swap").
# Printed per N: medians of throughput, p99 and exits per request, and each variant's
# throughput as a ratio to its default, beside Denali's published effect (batching worth up
# to 30%: unbatched/default >= 0.7; polling more than 2x worse as VMs grow: poll/default
# <= 0.5 at the larger N). Then one JSON line.
# Env: SERVICES ("10 100 300"), RUNS (3), DURATION (6s), CONC (32), ALPHA (1.0), MEM (4M),
#      WORKERS (1), SWAP (0).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FLEET_BUILD=${1:-$ROOT/build}
FLEET_NAME=ablate
SERVICES=${SERVICES:-10 100 300}
RUNS=${RUNS:-3}
DURATION=${DURATION:-6s}
CONC=${CONC:-32}
ALPHA=${ALPHA:-1.0}
MEM=${MEM:-4M}
WORKERS=${WORKERS:-1}
# shellcheck source=../zipf/fleet.sh
. "${FLEET_SH:-$ROOT/bench/zipf/fleet.sh}"
fleet_check || exit 1
fleet_init
trap fleet_cleanup EXIT
trap 'exit 130' INT TERM
"$FLEET_BIN/denalid" serve --help 2>&1 | grep -q -- '--events-unbatched' ||
	{ echo "ablate: denalid serve has no --events-unbatched" >&2; exit 1; }

VARIANTS="default unbatched poll"
if [ "${SWAP:-0}" = 1 ]; then
	fleet_swap_supported || { echo "ablate: SWAP=1 but denalid serve has no --swap" >&2; exit 1; }
	VARIANTS="$VARIANTS swap"
	for v in no-prefault unit-small unit-large; do
		case $v in no-prefault) o=--swap-no-prefault ;; *) o=--swap-unit ;; esac
		"$FLEET_BIN/denalid" serve --help 2>&1 | grep -q -- "$o" && VARIANTS="$VARIANTS $v"
	done
fi
OUT=$FLEET_TMP/out
mkdir -p "$OUT"
fleet_site "$FLEET_TMP/site" 2258

# one_run VARIANT N ROUND: a fresh daemon and fleet, one measured run into $OUT/VARIANT-N-ROUND
one_run() {
	local v=$1 n=$2 r=$3 opts=(--workers "$WORKERS" --max-vms $(($2 + 16)))
	local budget=$((n * ${MEM%M} / 2))M
	FLEET_HTTPD_FLAGS=
	case $v in
	unbatched) opts+=(--events-unbatched) ;;
	poll) FLEET_HTTPD_FLAGS=--poll ;;
	swap | no-prefault | unit-*)
		mkdir -p "$FLEET_TMP/swap"
		opts+=(--swap "$FLEET_TMP/swap" --mem-budget "$budget")
		case $v in
		no-prefault) opts+=(--swap-no-prefault) ;;
		unit-small) opts+=(--swap-unit 16K) ;;
		unit-large) opts+=(--swap-unit 1M) ;;
		esac
		;;
	esac
	export FLEET_HTTPD_FLAGS
	fleet_daemon_start "${opts[@]}" || return 1
	fleet_start "$n" "$MEM" 16 || return 1
	fleet_measure "$OUT/$v-$n-$r" --closed -c "$CONC" -C $((CONC + n)) -a "$ALPHA" \
		-d "$DURATION" -w 2s --timeout 5s -q || return 1
	fleet_daemon_stop
}

echo "ablate: services '$SERVICES', variants '$VARIANTS', $RUNS rounds of $DURATION, closed loop $CONC; load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $SERVICES; do
	rm -f "$FLEET_TMP/disks"/*.img
	fleet_disks "$n" "$FLEET_TMP/site"
	for r in $(seq "$RUNS"); do
		for v in $VARIANTS; do
			one_run "$v" "$n" "$r" || { echo "ablate: $v at $n services failed" >&2; exit 1; }
		done
		echo "ablate: $n services, round $r done; load $(cut -d' ' -f1-3 /proc/loadavg)"
	done
done

python3 - "$OUT" "$SERVICES" "$VARIANTS" <<'PY'
import glob, json, os, statistics, sys
out, ns, variants = sys.argv[1], [int(x) for x in sys.argv[2].split()], sys.argv[3].split()
def runs(v, n):
    return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, "%s-%d-*.json" % (v, n))))
            if not f.endswith((".before.json", ".after.json"))]
def med(v, n, k):
    x = [r[k] for r in runs(v, n) if k in r]
    return statistics.median(x) if x else float("nan")
base = {"unbatched": "default", "poll": "default", "no-prefault": "swap", "unit-small": "swap",
        "unit-large": "swap"}
denali = {"unbatched": "Denali: batching worth up to 30% (>= 0.70)",
          "poll": "Denali: idle-with-timeout > 2x as VMs grow (<= 0.50)"}
res = {"bench": "ablate", "services": {}}
print("%8s %-12s %10s %9s %9s %8s %10s  %s" % ("services", "variant", "req/s", "p99 ms",
      "exits/req", "failed", "x default", ""))
for n in ns:
    res["services"][n] = {}
    for v in variants:
        t, p, e = med(v, n, "throughput"), med(v, n, "p99_ms"), med(v, n, "exits_per_req")
        f = sum(r.get("failures", 0) for r in runs(v, n))
        b = base.get(v)
        ratio = t / med(b, n, "throughput") if b and med(b, n, "throughput") > 0 else None
        res["services"][n][v] = {"rps": t, "p99_ms": p, "exits_per_req": e, "failures": f,
                                 "ratio": None if ratio is None else round(ratio, 3)}
        print("%8d %-12s %10.1f %9.2f %9.2f %8d %10s  %s" % (n, v, t, p, e, f,
              "-" if ratio is None else "%.2f" % ratio, denali.get(v, "")))
print(json.dumps(res))
PY
echo "ablate: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
