#!/usr/bin/env bash
# bench/swap/restore.sh: a fleet that outlives its daemon (issue 10), timed on a real
# `denalid serve --swap`:
#   bench/swap/restore.sh BIN_DIR GUEST_DIR [N] [BASE_BIN_DIR]
# N (default 10000) sleepers (2 MiB, `sleeper 1000000 86400000`: idle for a day) are
# registered, then the daemon gets SIGTERM (every VM swapped out and kept) and is started
# again on the same state and swap. Figures:
#   save_s      SIGTERM until the daemon has exited (every VM in its slot, recorded)
#   listed_s    the restart's exec until the daemon's restore job is over (then `denalictl
#               list` is checked to show all N)
#   answered_s  the restart's exec until every one of the N has answered an event: an
#               operator's `swap in` (8 clients in parallel, each a share of the names;
#               names refused with "ask again" are asked again), counted per VM from the
#               list (swap_ins >= 1: read back from its slot and run)
# With BASE_BIN_DIR, the same run with that build first (a baseline in the same invocation)
# and the ratios base/this. Each measured part (SIGTERM, restart) holds BENCH_LOCK if set
# (e.g. /work/bench.lock); registration does not. Env: DIR (default /var/tmp), SLOT (default
# 256K), FILES (4), WORKERS (2), LIVE (--live-max, default 2000), PERF=FILE (perf record -g
# of the restart of this build, into FILE). One figure a line, a JSON line at the end.
# Figures, not assertions.
set -u
usage="usage: $0 BIN_DIR GUEST_DIR [N] [BASE_BIN_DIR]"
BIN=$(cd "${1:?$usage}" && pwd)
GUESTS=$(cd "${2:?$usage}" && pwd)
N=${3:-10000}
BASE=${4:-}
[ -n "$BASE" ] && BASE=$(cd "$BASE" && pwd)
SLOT=${SLOT:-256K}
FILES=${FILES:-4}
WORKERS=${WORKERS:-2}
LIVE=${LIVE:-2000}
CHUNK=5000
[ -r /dev/kvm ] || { echo "restore.sh: needs /dev/kvm" >&2; exit 77; }
TMP=$(mktemp -d "${DIR:-/var/tmp}/denali-restore.XXXXXX") || exit 1
DPID=
PPID_PERF=
cleanup() {
	[ -n "$PPID_PERF" ] && kill -INT "$PPID_PERF" 2>/dev/null && wait "$PPID_PERF" 2>/dev/null
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		for _ in $(seq 600); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

lock() { [ -n "${BENCH_LOCK:-}" ] && { exec 9>>"$BENCH_LOCK"; flock 9; }; return 0; }
unlock() { [ -n "${BENCH_LOCK:-}" ] && flock -u 9; return 0; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
say() { echo "restore: $*" >&2; }
# count_in: VMs in the list (stdin: list --json); count_answered: those with swap_ins >= 1
count_in() { python3 -c "import json,sys; print(len(json.load(sys.stdin)))" 2>/dev/null; }
count_answered() {
	python3 -c "import json,sys; print(sum(1 for v in json.load(sys.stdin) if (v.get('swap_ins') or 0) >= 1))" 2>/dev/null
}

# run LABEL BIN: one whole run; sets R_SAVE R_LISTED R_ANSWERED R_RESUMED R_OK
run() {
	local label=$1 bin=$2 t0 t1 t2 got c n
	local ctl=("$bin/denalictl" --socket "$TMP/d.sock")
	rm -rf "$TMP/state" "$TMP/swap" "$TMP/d.sock" "$TMP"/names.*
	: >"$TMP/d.log"
	start_daemon() {
		"$bin/denalid" serve --socket "$TMP/d.sock" --state-dir "$TMP/state" \
			--workers "$WORKERS" --swap "$TMP/swap" --swap-files "$FILES" \
			--swap-slot "$SLOT" --swap-size "$((N * ${SLOT%K}))K" --live-max "$LIVE" \
			>>"$TMP/d.log" 2>&1 &
		DPID=$!
	}
	wait_up() {
		for _ in $(seq 1200); do
			"${ctl[@]}" list >/dev/null 2>&1 && return 0
			kill -0 "$DPID" 2>/dev/null || break
			sleep 0.05
		done
		say "$label: the daemon did not come up: $(tail -3 "$TMP/d.log")"
		exit 1
	}
	start_daemon
	wait_up
	for ((c = 0; c * CHUNK < N; c++)); do
		n=$((N - c * CHUNK < CHUNK ? N - c * CHUNK : CHUNK))
		"${ctl[@]}" start "f$c" "$GUESTS/sleeper" --count "$n" --mem 2M -- 1000000 86400000 \
			>/dev/null || { say "$label: start f$c failed"; exit 1; }
	done
	# registered: every VM booted to its first idle (resident) or swapped out since
	for _ in $(seq 2400); do
		"${ctl[@]}" stats --json 2>/dev/null | python3 -c "
import json, sys
s = json.load(sys.stdin)['swap']
sys.exit(0 if s['vms_waiting'] == 0 and s['vms_resident'] + s['vms_swapped'] >= $N else 1)" && break
		sleep 0.5
	done
	"${ctl[@]}" list --json | python3 -c "
import json, sys
for v in json.load(sys.stdin): print(v['name'])" >"$TMP/names"
	say "$label: $(wc -l <"$TMP/names") registered"

	lock
	local l0
	l0=$(load)
	t0=$(now)
	kill -TERM "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
	t1=$(now)
	R_SAVE=$(echo "$t1 - $t0" | bc -l)
	R_KEPT=$(grep -o 'shutdown: [0-9]* of [0-9]*' "$TMP/d.log" | tail -1)
	: >"$TMP/d.log"

	t0=$(now)
	start_daemon
	if [ -n "${PERF:-}" ] && [ "$label" = this ]; then
		perf record -g -o "$PERF" -p "$DPID" >/dev/null 2>&1 &
		PPID_PERF=$!
	fi
	wait_up
	# restored: the daemon's restore job is over (polled through `jobs`, which costs the
	# daemon nothing per VM: a list of N every 0.1 s would take the restore's own thread)
	for _ in $(seq 6000); do
		"${ctl[@]}" jobs --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
j = [j for j in (d.get('jobs', d) if isinstance(d, dict) else d) if j['op'] == 'restore']
sys.exit(0 if j and j[0]['state'] != 'running' else 1)" 2>/dev/null && break
		sleep 0.05
	done
	t1=$(now)
	got=$("${ctl[@]}" list --json 2>/dev/null | count_in)
	[ "${got:-0}" -ge "$N" ] || say "$label: only ${got:-0} of $N listed after the restore"
	# every VM asked in (8 clients); "ask again" refusals asked again, up to 50 rounds
	cp "$TMP/names" "$TMP/todo"
	for _ in $(seq 50); do
		[ -s "$TMP/todo" ] || break
		rm -f "$TMP"/names.*
		split -n l/8 "$TMP/todo" "$TMP/names."
		local pids=()
		for f in "$TMP"/names.*; do
			[ -s "$f" ] || continue
			"${ctl[@]}" swap in $(cat "$f") >/dev/null 2>"$f.err" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p"; done
		# what is not yet answered, from the daemon's own count
		"${ctl[@]}" list --json | python3 -c "
import json, sys
for v in json.load(sys.stdin):
    if (v.get('swap_ins') or 0) < 1 and v.get('residency') != 'resident': print(v['name'])" >"$TMP/todo"
	done
	got=$("${ctl[@]}" list --json | count_answered)
	t2=$(now)
	[ -n "$PPID_PERF" ] && { kill -INT "$PPID_PERF"; wait "$PPID_PERF" 2>/dev/null; PPID_PERF=; }
	unlock
	R_LISTED=$(echo "$t1 - $t0" | bc -l)
	R_ANSWERED=$(echo "$t2 - $t0" | bc -l)
	R_OK=$got
	R_RESUMED=$(grep -c "resumed from its swap slot" "$TMP/d.log")
	R_LOAD="$l0 -> $(load)"
	say "$(printf '%s: N=%d: SIGTERM-save %.2f s (%s kept); restart: all listed %.2f s (%s resumed from their slots), all answered %.2f s (%s answered) (load %s)' \
		"$label" "$N" "$R_SAVE" "$R_KEPT" "$R_LISTED" "$R_RESUMED" "$R_ANSWERED" "$R_OK" "$R_LOAD")"
	kill -TERM "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
}

B_SAVE=0 B_LISTED=0 B_ANSWERED=0 B_OK=0 B_LOAD=
if [ -n "$BASE" ]; then
	run base "$BASE"
	B_SAVE=$R_SAVE B_LISTED=$R_LISTED B_ANSWERED=$R_ANSWERED B_OK=$R_OK B_LOAD=$R_LOAD
fi
run this "$BIN"
ratio() { [ -n "$BASE" ] && echo "$1 / $2" | bc -l || echo 0; }
printf '{"bench":"restore","n":%d,"live_max":%d,"slot":"%s","files":%d,"workers":%d,"save_s":%.2f,"listed_s":%.2f,"answered_s":%.2f,"answered":%d,"resumed":%d,"load":"%s","base_save_s":%.2f,"base_listed_s":%.2f,"base_answered_s":%.2f,"base_answered":%d,"base_load":"%s","save_ratio_base_over_this":%.2f,"listed_ratio_base_over_this":%.2f,"answered_ratio_base_over_this":%.2f}\n' \
	"$N" "$LIVE" "$SLOT" "$FILES" "$WORKERS" "$R_SAVE" "$R_LISTED" "$R_ANSWERED" "$R_OK" \
	"$R_RESUMED" "$R_LOAD" "$B_SAVE" "$B_LISTED" "$B_ANSWERED" "$B_OK" "$B_LOAD" \
	"$(ratio "$B_SAVE" "$R_SAVE")" "$(ratio "$B_LISTED" "$R_LISTED")" \
	"$(ratio "$B_ANSWERED" "$R_ANSWERED")"
