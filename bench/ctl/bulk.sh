#!/usr/bin/env bash
# bench/ctl/bulk.sh: the control plane's bulk operations, timed from denalictl's side.
#   bench/ctl/bulk.sh BIN_DIR GUEST_DIR [BASELINE_BIN_DIR] [N] [ROUNDS]
# For each build (BASELINE_BIN_DIR, if given, and BIN_DIR): a fresh daemon with one worker
# per CPU and a watchdog listener (WATCHDOG_USEC=2s); ROUNDS rounds, the builds taking turns
# within each round (so that both see the same load), of `start --count N` (sleepers, 2 MiB)
# and `stop --all`; prints the median seconds of each (and of the stop until the daemon is at
# rest: stats shows no shell left to destroy and no guest memory left to give back),
# starts per second, the longest gap between watchdog pings seen during the run, and the
# ratio baseline/new. Figures, not assertions: the host is shared.
set -u
BIN=${1:?usage: $0 BIN_DIR GUEST_DIR [BASELINE_BIN_DIR] [N] [ROUNDS]}
GUESTS=$(cd "${2:?}" && pwd)
BASE=${3:-}
N=${4:-1000}
ROUNDS=${5:-3}
TMP=$(mktemp -d /tmp/denali-bulk.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now() { date +%s.%N; }

# launch LABEL BIN: a daemon and its watchdog listener, both left running
launch() {
	local label=$1 bin=$2
	python3 - "$TMP/$label.notify" "$TMP/$label.pings" <<'PY' &
import socket, sys, time, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "w", buffering=1)
while True:
    d = s.recv(4096)
    if b"WATCHDOG=1" in d:
        out.write("%.6f\n" % time.monotonic())
PY
	PIDS+=($!)
	sleep 0.3
	NOTIFY_SOCKET="$TMP/$label.notify" WATCHDOG_USEC=2000000 "$bin/denalid" serve \
		--socket "$TMP/$label.sock" --state-dir "$TMP/$label.state" >"$TMP/$label.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do "$bin/denalictl" --socket "$TMP/$label.sock" list >/dev/null 2>&1 && break; sleep 0.1; done
}

# at_rest BIN SOCK: true once the daemon has no teardown left in the background (shells to
# destroy, guest memory to give back; a daemon that reports neither does it all before it
# answers)
at_rest() {
	"$1/denalictl" --socket "$2" stats --json 2>/dev/null |
		grep -Eo '"(shells_reclaiming|guest_mem_reaping)": *[0-9]+' | grep -Eqv ': *0$' && return 1
	return 0
}

# round LABEL BIN: one start --count N and one stop --all; appends the seconds of each, and the
# seconds from the stop's start until the daemon is at rest (the teardown it does after it
# answered). The next timed step waits for that, so no build's teardown runs into the other's
# measurement.
round() {
	local label=$1 bin=$2 s=$TMP/$1.sock t0 t1 t2 t3
	t0=$(now)
	"$bin/denalictl" --socket "$s" start b "$GUESTS/sleeper" --count "$N" --mem 2M -- 1 600000 >/dev/null 2>"$TMP/err" ||
		{ echo "$label: start failed: $(cat "$TMP/err")" >&2; }
	t1=$(now)
	"$bin/denalictl" --socket "$s" stop --all >/dev/null 2>"$TMP/err" ||
		{ echo "$label: stop failed: $(cat "$TMP/err")" >&2; }
	t2=$(now)
	for _ in $(seq 1500); do at_rest "$bin" "$s" && break; sleep 0.02; done
	t3=$(now)
	echo "$t1 - $t0" | bc -l >>"$TMP/$label.starts"
	echo "$t2 - $t1" | bc -l >>"$TMP/$label.stops"
	echo "$t3 - $t1" | bc -l >>"$TMP/$label.rests"
}

# result LABEL: "LABEL start_s stop_s gap_ms" (medians; the longest ping gap of its daemon)
result() {
	local label=$1 gap
	gap=$(awk 'NR > 1 { g = ($1 - p) * 1000; if (g > m) m = g } { p = $1 } END { printf "%.0f", m }' "$TMP/$label.pings")
	printf '%s %s %s %s %s\n' "$label" "$(median <"$TMP/$label.starts")" "$(median <"$TMP/$label.stops")" "$gap" \
		"$(median <"$TMP/$label.rests")"
}

echo "bulk: N=$N, $ROUNDS rounds, baseline and new interleaved, medians; watchdog interval 2 s (pings every 0.25 s)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
builds=()
if [ -n "$BASE" ]; then builds+=("baseline $BASE"); fi
builds+=("new $BIN")
for b in "${builds[@]}"; do launch $b; done
for _ in $(seq "$ROUNDS"); do
	for b in "${builds[@]}"; do round $b; done
done
res=()
for b in "${builds[@]}"; do res+=("$(result ${b%% *})"); done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %10s %10s %12s %10s %14s\n' build start_s stop_s stop_rest_s starts/s max_ping_gap_ms
for l in "${res[@]}"; do
	set -- $l
	printf '%-10s %10.3f %10.3f %12.3f %10.0f %14s\n' "$1" "$2" "$3" "$5" "$(echo "$N / $2" | bc -l)" "$4"
done
if [ -n "$BASE" ]; then
	set -- ${res[0]}; bs=$2 bt=$3 br=$5
	set -- ${res[1]}
	printf 'ratio baseline/new: start %.2fx, stop %.2fx, stop until at rest %.2fx\n' "$(echo "$bs / $2" | bc -l)" \
		"$(echo "$bt / $3" | bc -l)" "$(echo "$br / $5" | bc -l)"
fi
