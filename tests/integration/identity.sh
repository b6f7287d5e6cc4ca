#!/usr/bin/env bash
# Issue 8 item 5: the state directory is locked (a second daemon is refused, naming the
# holder's pid); VM ids are persisted and never handed out twice in one state directory.
. "$(dirname "$0")/lib.sh"
require_kvm
trap daemons_cleanup EXIT
daemon_start a --workers 1
S="--socket $TMP/a.sock"
FIRST=$DPID

# --- a second daemon on the same state directory --------------------------------------
timeout 20 "$DENALID" serve --socket "$TMP/b.sock" --state-dir "$TMP/a.state" --workers 1 \
	>"$TMP/second.log" 2>&1
expect_status second-refused 1 "$?"
expect_in second-refused "$TMP/second.log" "in use by another denalid (pid $FIRST)"
CHECKS=$((CHECKS + 1))
[ ! -e "$TMP/b.sock" ] || fail "the refused daemon left a socket"

# --- ids: unique, stable across a restart, never reused ---------------------------------
"$CTL" $S start v "$GUESTS/sleeper" --count 3 -- 1 600000 >/dev/null
expect_status start 0 "$?"
"$CTL" $S list --json >"$TMP/ids0.json"
ids0=$(json "$TMP/ids0.json" "' '.join(f\"{v['name']}={v['id']}\" for v in sorted(d, key=lambda v: v['name']))")
echo "ids before restart: $ids0"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/ids0.json" "len(set(v['id'] for v in d))")" = 3 ] || fail "ids not unique: $ids0"
"$CTL" $S stop v-1 >/dev/null
daemon_stop "$DPID"
expect_status sigterm 0 "$?"
daemon_start a --workers 1
"$CTL" $S list --json >"$TMP/ids1.json"
ids1=$(json "$TMP/ids1.json" "' '.join(f\"{v['name']}={v['id']}\" for v in sorted(d, key=lambda v: v['name']))")
echo "ids after restart:  $ids1"
CHECKS=$((CHECKS + 1))
[ "$ids1" = "$(echo "$ids0" | tr ' ' '\n' | grep -v '^v-1=' | tr '\n' ' ' | sed 's/ $//')" ] ||
	fail "ids changed across the restart: '$ids0' -> '$ids1'"
"$CTL" $S start v-1 "$GUESTS/sleeper" -- 1 600000 >/dev/null
"$CTL" $S list --json >"$TMP/ids2.json"
max0=$(json "$TMP/ids0.json" "max(v['id'] for v in d)")
new=$(json "$TMP/ids2.json" "[v['id'] for v in d if v['name'] == 'v-1'][0]")
echo "v-1 started again: id $new (highest before: $max0)"
CHECKS=$((CHECKS + 1))
[ "$new" -gt "$max0" ] || fail "an id was handed out again: v-1 got $new, ids so far went up to $max0"
daemon_stop "$DPID"
expect_status sigterm2 0 "$?"
finish
