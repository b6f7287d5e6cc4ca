#!/usr/bin/env bash
# bench/isolation/lifecycle.sh - the fleet's life cycle under load (issue 12 item 6).
#
#   bench/isolation/lifecycle.sh [BUILD_DIR]   (default build; needs root, /dev/kvm, a tap)
#
# N httpd services in one `denalid serve` (bench/zipf/fleet.sh) take open-loop Zipf traffic at
# RATE req/s without a pause, measured in back-to-back denali-load windows of WINDOW each (a
# window re-reads the targets, so it follows services to their new addresses). Meanwhile, on
# a fixed timeline: PLATEAU of plateau; `denalictl stop` of STOPN services (ranks 2..), their
# `start` again HOLD later; then the daemon is restarted (SIGTERM, then `denalid serve` again
# on the same state directory, which boots every definition again) with the load running;
# then AFTER of load. Printed: one line per window (time, throughput, p99, failures, the
# events in it), then the plateau before, the plateau after the restart and their ratio, the
# failures counted in each phase (bounded: only the windows around an event may have any),
# and how long after the restart throughput was back within 10% of the plateau.
# Env: SERVICES (20), RATE (200), WINDOW (2s), PLATEAU (12), HOLD (6), AFTER (20) (seconds),
#      STOPN (3), WORKERS (2), MEM (4M).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FLEET_BUILD=${1:-$ROOT/build}
FLEET_NAME=lifecycle
SERVICES=${SERVICES:-20}
RATE=${RATE:-200}
WINDOW=${WINDOW:-2s}
PLATEAU=${PLATEAU:-12}
HOLD=${HOLD:-6}
AFTER=${AFTER:-20}
STOPN=${STOPN:-3}
WORKERS=${WORKERS:-2}
MEM=${MEM:-4M}
# shellcheck source=../zipf/fleet.sh
. "${FLEET_SH:-$ROOT/bench/zipf/fleet.sh}"
fleet_check || exit 1
fleet_init
LOADER=
stop_loader() {
	[ -n "$LOADER" ] || return 0
	touch "$FLEET_TMP/stop"
	wait "$LOADER" 2>/dev/null || true
	LOADER=
}
trap 'stop_loader; fleet_cleanup' EXIT
trap 'exit 130' INT TERM
[ "$STOPN" -lt "$SERVICES" ] || { echo "lifecycle: STOPN must be below SERVICES" >&2; exit 2; }

DAEMON=(--workers "$WORKERS" --max-vms $((SERVICES + 16)))
fleet_daemon_start "${DAEMON[@]}"
fleet_site "$FLEET_TMP/site" 2258
fleet_disks "$SERVICES" "$FLEET_TMP/site"
fleet_start "$SERVICES" "$MEM" 16
T0=$(date +%s.%N)
now() { awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }'; }
mark() { echo "$(now) $*" >>"$FLEET_TMP/events"; echo "lifecycle: t=$(now) s: $*"; }
: >"$FLEET_TMP/events"
: >"$FLEET_TMP/windows"

# The loader: windows back to back until $FLEET_TMP/stop exists; "start end json" per window.
(
	i=0
	while [ ! -e "$FLEET_TMP/stop" ]; do
		s=$(now)
		fleet_load -r "$RATE" -a 1.0 -d "$WINDOW" -w 0s --timeout 1s -s $((i + 1)) -q \
			>"$FLEET_TMP/w.json" 2>/dev/null || true
		j=$(tail -n 1 "$FLEET_TMP/w.json")
		case $j in "{"*) echo "$s $(now) $j" >>"$FLEET_TMP/windows" ;; esac
		i=$((i + 1))
	done
) &
LOADER=$!

sleep "$PLATEAU"
STOPPED=()
for ((k = 1; k <= STOPN; k++)); do STOPPED+=("svc-$k"); done
mark "stop ${STOPPED[*]}"
fleet_ctl stop "${STOPPED[@]}" >/dev/null
sleep "$HOLD"
mark "start ${STOPPED[*]} again"
for v in "${STOPPED[@]}"; do
	i=${v#svc-}
	fleet_ctl start "$v" "$FLEET_GUESTS/httpd" --mem "$MEM" --net \
		--disk "$FLEET_TMP/disks/$v.img" --disk-ro -- 80 16 >/dev/null
done
# their new addresses, once they listen (each has a new console log)
for _ in $(seq 100); do
	up=0
	for v in "${STOPPED[@]}"; do
		grep -q "listening on port" "$FLEET_TMP/state/vms/$v/console.log" 2>/dev/null && up=$((up + 1))
	done
	[ "$up" -eq "$STOPN" ] && break
	sleep 0.2
done
fleet_targets "$SERVICES"
mark "retargeted"
sleep "$HOLD"

mark "daemon SIGTERM"
kill -TERM "$FLEET_DPID"
wait "$FLEET_DPID" 2>/dev/null || true
mark "daemon stopped"
fleet_daemon_start "${DAEMON[@]}"
mark "daemon answering again"
for _ in $(seq 300); do
	st=$(fleet_ctl list --json 2>/dev/null | python3 -c 'import json, sys
print(sum(1 for v in json.load(sys.stdin) if v["name"].startswith("svc-") and v["state"] in ("idle", "running", "runnable")))' 2>/dev/null || echo 0)
	[ "$st" -ge "$SERVICES" ] && break
	sleep 0.2
done
mark "every service live again ($st of $SERVICES)"
fleet_targets "$SERVICES" # ids are kept across a restart: the same addresses
sleep "$AFTER"
mark "end"
stop_loader

python3 - "$FLEET_TMP/windows" "$FLEET_TMP/events" "$RATE" <<'PY'
import json, statistics, sys
wins = []
for l in open(sys.argv[1]):
    s, e, j = l.split(" ", 2)
    wins.append((float(s), float(e), json.loads(j)))
evs = [(float(l.split(" ", 1)[0]), l.split(" ", 1)[1].strip()) for l in open(sys.argv[2])]
t = lambda name: next(x for x, n in evs if n.startswith(name))
t_stop, t_term, t_end = t("stop"), t("daemon SIGTERM"), t("end")
t_live = t("every service")
print("%7s %7s %9s %9s %8s  %s" % ("from s", "to s", "req/s", "p99 ms", "failed", "events"))
for s, e, d in wins:
    inside = [n for x, n in evs if s <= x < e]
    print("%7.1f %7.1f %9.1f %9.1f %8d  %s" % (s, e, d["throughput"], d["p99_ms"], d["failures"],
          "; ".join(inside)))
before = [d["throughput"] for s, e, d in wins if e <= t_stop]
after = [d["throughput"] for s, e, d in wins if s >= t_live + 4]
pb = statistics.median(before) if before else 0
pa = statistics.median(after) if after else 0
# a window belongs to the phase it ended in (its failures come from what happened before)
phase = lambda a, b: sum(d["failures"] for s, e, d in wins if a < e <= b)
rec = next((s - t_term for s, e, d in wins if s >= t_term and pb and d["throughput"] >= 0.9 * pb
            and d["failures"] == 0), None)
print("plateau before: %.1f req/s (median of %d windows); after the restart: %.1f req/s (%d); "
      "after/before %.2f" % (pb, len(before), pa, len(after), pa / pb if pb else 0))
print("failures: plateau %d, stop/start %d, restart %d, after %d (of %d requests due)" % (
      phase(-1, t_stop), phase(t_stop, t_term), phase(t_term, t_live + 4),
      phase(t_live + 4, t_end + 60),
      sum(d["scheduled"] for s, e, d in wins)))
print("back within 10%% of the plateau, without failures, %s after the SIGTERM" %
      ("%.1f s" % rec if rec is not None else "never"))
print(json.dumps({"bench": "lifecycle", "rate": float(sys.argv[3]), "plateau_before": pb,
                  "plateau_after": pa, "ratio": round(pa / pb, 3) if pb else 0,
                  "failures_plateau": phase(-1, t_stop), "failures_stopstart": phase(t_stop, t_term),
                  "failures_restart": phase(t_term, t_live + 4),
                  "failures_after": phase(t_live + 4, t_end + 60),
                  "recovery_s": rec, "events": evs}))
PY
echo "lifecycle: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
