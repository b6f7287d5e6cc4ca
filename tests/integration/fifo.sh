#!/usr/bin/env bash
# Issue 7 hole 4: an image (or disk) path that is a FIFO must be refused at once, without hanging the
# control plane, and leave no definition behind; a daemon whose state directory holds a
# definition naming a FIFO must still become ready, start its other VMs and stop on SIGTERM.
. "$(dirname "$0")/lib.sh"
require_kvm
trap daemons_cleanup EXIT
mkfifo "$TMP/fifo"

# --- start with a FIFO image: refused, list still answers ---------------------------
daemon_start a --workers 1
S="--socket $TMP/a.sock"
timeout 10 "$CTL" $S start x "$TMP/fifo" >"$TMP/fifo.out" 2>&1
expect_status fifo-start 1 "$?"
expect_in fifo-start "$TMP/fifo.out" "not a regular file"
timeout 10 "$CTL" $S list >"$TMP/list.out" 2>&1
expect_status list-after-fifo 0 "$?"
expect_not_in list-after-fifo "$TMP/list.out" "x "
CHECKS=$((CHECKS + 1))
[ ! -e "$TMP/a.state/vms/x/def.json" ] || fail "a refused start left a definition behind"
timeout 10 "$CTL" $S start d "$TMP" >"$TMP/dir.out" 2>&1
expect_status dir-start 1 "$?"
expect_in dir-start "$TMP/dir.out" "not a regular file (a directory)"
# The same for a disk: a read-only open of a FIFO waits for a writer.
timeout 10 "$CTL" $S start fd "$(cd "$GUESTS" && pwd)/blkcheck" --disk "$TMP/fifo" --disk-ro \
	>"$TMP/fdisk.out" 2>&1
expect_status fifo-disk 1 "$?"
expect_in fifo-disk "$TMP/fdisk.out" "not a regular file"
timeout 10 "$CTL" $S list >"$TMP/list2.out" 2>&1
expect_status list-after-fifo-disk 0 "$?"
daemon_stop "$DPID"
expect_status a-sigterm 0 "$?"

# --- a stored definition naming a FIFO: ready anyway, SIGTERM works -----------------
mkdir -p "$TMP/b.state/vms/bad" "$TMP/b.state/vms/good"
printf '{"name": "bad", "image": "%s", "mem": 4194304, "args": []}\n' "$TMP/fifo" \
	>"$TMP/b.state/vms/bad/def.json"
printf '{"name": "good", "image": "%s", "mem": 4194304, "args": ["1", "600000"]}\n' \
	"$(cd "$GUESTS" && pwd)/sleeper" >"$TMP/b.state/vms/good/def.json"
daemon_launch b --workers 1
S="--socket $TMP/b.sock"
daemon_wait b
expect_status b-ready 0 "$?"
for _ in $(seq 50); do grep -q "restored" "$TMP/b.log" && break; sleep 0.1; done
expect_in b-log "$TMP/b.log" "vm bad: not restarted"
expect_in b-log "$TMP/b.log" "not a regular file (a FIFO)"
timeout 10 "$CTL" $S list >"$TMP/blist.out" 2>&1
expect_in b-list "$TMP/blist.out" "good"
daemon_stop "$DPID"
expect_status b-sigterm 0 "$?"
finish
