#!/usr/bin/env bash
# Issue 7: a shell rebound after each kind of death starts the next tenant
# exactly as a fresh one. The reader (entrystate) checks its own entry state:
# registers, rflags, selectors, x87/SSE state, entered once, memory zero.
# Deaths: exit, kill in `in` (one and string), fault, stop while running,
# stop while idle; in `denalid run --workers 1` and in `denalid serve` with
# one worker (the reader binds the dead VM's shell; in serve, once the dead
# VM is removed, also its recycled memory region without a slot update).
# Kill in MMIO cannot be reached by a guest (no mapping leads outside its
# memory): tests/vmm/test_rebind covers it with crafted page tables.
. "$(dirname "$0")/lib.sh"
require_kvm
CTL="$BIN/denalictl"
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# --- run ----------------------------------------------------------------------
for death in "hello" "hostile-inport one" "hostile-inport rep" "hostile-triple" \
	"hostile-page0" "hostile-priv"; do
	set -- $death
	n="run-$1${2:+-$2}"
	run_denalid "$n" run --workers 1 "$GUESTS/$1" --with "$GUESTS/entrystate" \
		--with "$GUESTS/entrystate" -- ${2:-}
	expect_in "$n" "$TMP/$n.out" "entrystate-1: entry: clean"
	expect_in "$n" "$TMP/$n.out" "entrystate-2: entry: clean"
	expect_not_in "$n" "$TMP/$n.err" "entrystate-1 killed"
done

# --- serve --------------------------------------------------------------------
"$BIN/denalid" serve --socket "$TMP/d.sock" --state-dir "$TMP/state" --workers 1 \
	>"$TMP/d.log" 2>&1 &
DPID=$!
S="--socket $TMP/d.sock"
for _ in $(seq 100); do
	"$CTL" $S list >/dev/null 2>&1 && break
	sleep 0.1
done

# wait_state NAME STATE: until `list` shows NAME in STATE (10 s)
wait_state() {
	for _ in $(seq 100); do
		"$CTL" $S list --json 2>/dev/null | python3 -c "
import json, sys
d = [v for v in json.load(sys.stdin) if v['name'] == sys.argv[1]]
sys.exit(0 if d and d[0]['state'] == sys.argv[2] else 1)" "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

# reader NAME: boots entrystate as NAME and expects it clean
reader() {
	"$CTL" $S start "$1" "$GUESTS/entrystate" >/dev/null
	CHECKS=$((CHECKS + 1))
	wait_state "$1" exited || fail "$1: the reader did not exit normally"
	"$CTL" $S console "$1" >"$TMP/$1.out"
	expect_in "$1" "$TMP/$1.out" "entry: clean"
	"$CTL" $S stop "$1" >/dev/null
}

# serve_case NAME STATE IMAGE [ARGS]: the victim reaches STATE, one reader
# runs beside its remains, the victim is stopped, a second reader follows.
serve_case() {
	local n=$1 state=$2 img=$3
	shift 3
	"$CTL" $S start "$n" "$GUESTS/$img" -- "$@" >/dev/null
	CHECKS=$((CHECKS + 1))
	wait_state "$n" "$state" || fail "$n: never $state"
	[ "$state" = running ] || [ "$state" = idle ] || reader "$n-r1"
	"$CTL" $S stop "$n" >/dev/null
	reader "$n-r2"
}

serve_case exit exited hello
serve_case in killed hostile-inport one
serve_case inrep killed hostile-inport rep
serve_case fault killed hostile-triple
serve_case running running spin 60000
serve_case idle idle sleeper 1 600000
kill -TERM "$DPID"
wait "$DPID"
expect_status sigterm 0 "$?"
DPID=
finish
