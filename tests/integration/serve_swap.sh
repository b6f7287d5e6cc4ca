#!/usr/bin/env bash
# The gatekeeper and swap inside denalid serve, in a namespace of this test's own
# (198.18.13.0/24, a tap there, no other address): httpd VMs with --net and a --disk
# (their site on a read-only rofs image) under a memory budget that holds only a few of
# them, so most are swapped out. Every one is asked over HTTP, from Linux through the tap:
# the frame for a swapped VM queues on its port and brings it back, and it answers
# correctly (its page byte for byte, its hit counter continuing: memory, registers and
# device ring positions came back from its slot). list/stats show the swap-ins; the
# resident total stays within the budget; swap out/in by command; a VM whose slot is
# corrupted on disk is killed at its swap-in with a checksum reason and never runs,
# beside neighbours that go on answering.
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns curl
NS=denali-swapsrv-$$
TAP=swtap$$
trap 'daemons_cleanup; netns_cleanup' EXIT
netns_up "$NS" "$TAP" 198.18.13.1/24

mkdir -p "$TMP/site"
head -c 3000 /dev/urandom | base64 -w 76 >"$TMP/site/index.html"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
expect_status mkfs 0 $?

N=8
BUDGET=$((1536 << 10))
daemon_start d --workers 2 --net 198.18.13.0/24 --tap "$TAP" --swap "$TMP/swap" \
	--swap-files 2 --swap-size 64M --swap-slot 4M --mem-budget 1536K --boot-charge 512K
S="--socket $TMP/d.sock"
httpd_fleet "$N" "$TMP/site.img" "$TAP"
swapped_count() {
	"$CTL" $S list --json >"$TMP/lc.json"
	json "$TMP/lc.json" "sum(1 for v in d if v['residency'] == 'swapped')"
}
# The budget holds about three: the rest are swapped out once they have booted and idled.
for _ in $(seq 100); do
	[ "$(swapped_count)" -ge $((N - 4)) ] && break
	sleep 0.1
done
CHECKS=$((CHECKS + 1))
[ "$(swapped_count)" -ge $((N - 4)) ] || fail "only $(swapped_count) of $N VMs swapped out"

get() { # ADDR PATH: the body, or nothing. No retries: a retried /hits would count twice
	in_ns curl -s -m 60 "http://$1$2" 2>/dev/null
}
# Round 1: every VM answers its page and its counter; round 2 (after each was swapped
# out again by the others' admissions, or by command) the counter goes on.
for i in $(seq 0 $((N - 1))); do
	get "${ADDR[$i]}" /index.html >"$TMP/page.$i"
	cmp -s "$TMP/page.$i" "$TMP/site/index.html" || fail "h$i: page differs after swap-in"
	CHECKS=$((CHECKS + 1))
	HITS[$i]=$(get "${ADDR[$i]}" /hits)
done
"$CTL" $S swap in h0 >/dev/null 2>&1 # it may be out already: in, then out by command
"$CTL" $S swap out h0 >"$TMP/swapout.txt" 2>&1
expect_status "swap out h0" 0 $?
expect_in "swap out" "$TMP/swapout.txt" "swapped out h0"
"$CTL" $S list >"$TMP/list1.txt"
expect_in list-state "$TMP/list1.txt" "swapped"
# A swapped VM holds no descriptor of its disk (it is opened again at its swap-in): the
# daemon's descriptors of site.img are at most one per VM in memory (nothing runs now).
"$CTL" $S list --json >"$TMP/lfd.json"
inmem=$(json "$TMP/lfd.json" "sum(1 for v in d if v['residency'] != 'swapped')")
diskfds=$(find "/proc/$DPID/fd" -lname "*site.img" 2>/dev/null | wc -l)
CHECKS=$((CHECKS + 1))
[ "$diskfds" -le "$inmem" ] ||
	fail "$diskfds descriptors of the disk for $inmem VMs in memory (swapped VMs keep theirs)"
for i in $(seq 0 $((N - 1))); do
	h=$(get "${ADDR[$i]}" /hits)
	CHECKS=$((CHECKS + 1))
	[ -n "${HITS[$i]}" ] && [ "$h" = "$((HITS[$i] + 1))" ] ||
		fail "h$i: hit counter ${HITS[$i]} then '$h' (its memory did not survive the swap)"
done
"$CTL" $S list --json >"$TMP/l1.json"
CHECKS=$((CHECKS + 1))
ins=$(json "$TMP/l1.json" "sum(v['swap_ins'] for v in d)")
[ "$ins" -ge $((N - 3)) ] || fail "only $ins swap-ins in list --json"
"$CTL" $S stats --json >"$TMP/s1.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/s1.json" "d['swap']['swap_ins'] >= $ins and d['swap']['frames_queued'] > 0")" = True ] ||
	fail "stats: swap-ins or frames_queued missing: $(json "$TMP/s1.json" "d['swap']")"
CHECKS=$((CHECKS + 1))
peak=$(json "$TMP/s1.json" "d['swap']['peak_resident_bytes']")
[ "$peak" -le "$BUDGET" ] || fail "peak resident $peak bytes over the budget of $BUDGET"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/s1.json" "d['swap']['mem_budget']")" = "$BUDGET" ] || fail "stats: mem_budget"
# Sanity on the host side: the daemon's RSS is the budget plus its own overhead (8 ports'
# queues, shells, the rofs cache), far from N whole VMs.
CHECKS=$((CHECKS + 1))
pid=$DPID
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
[ "$rss" -lt $(((BUDGET >> 10) + 65536)) ] || fail "daemon RSS $rss KiB"
# swap in by command, and its refusals
"$CTL" $S swap in h1 >/dev/null 2>&1
"$CTL" $S swap in h1 >"$TMP/again.txt" 2>&1
expect_status "swap in twice" 0 $? # idempotent: it is in
"$CTL" $S list --json >"$TMP/l1b.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l1b.json" "[v['residency'] for v in d if v['name'] == 'h1'][0]")" = resident ] ||
	fail "h1 not resident after swap in"
"$CTL" $S swap out nosuch >"$TMP/nosuch.txt" 2>&1
expect_status "swap nosuch" 1 $?
expect_in "swap nosuch" "$TMP/nosuch.txt" "no VM named nosuch"
"$CTL" swap --help >"$TMP/help.txt"
expect_in "swap help" "$TMP/help.txt" "usage: denalictl swap out|in NAME"

# Hostile: flip bytes of h2's slot on disk while it is out; its next frame kills it with
# a checksum reason, it never runs, and its neighbours go on answering.
"$CTL" $S swap in h2 >/dev/null 2>&1 # it may be out already: in, then out by command
"$CTL" $S swap out h2 >"$TMP/out2.txt" 2>&1 || fail "swap out h2: $(cat "$TMP/out2.txt")"
"$CTL" $S list --json >"$TMP/l2.json"
slot=$(json "$TMP/l2.json" "[v['swap_slot'] for v in d if v['name'] == 'h2'][0]")
"$CTL" $S stats --json >"$TMP/s2.json"
sb=$(json "$TMP/s2.json" "d['swap']['slot_bytes']")
nf=$(json "$TMP/s2.json" "d['swap']['swap_files']")
off=$(((slot / nf) * sb + 4096 + 10))
printf '\xde\xad\xbe\xef' | dd of="$TMP/swap/swap.$((slot % nf))" bs=1 seek=$off conv=notrunc \
	status=none
h2=$(in_ns curl -s -m 5 "http://${ADDR[2]}/hits" 2>/dev/null)
CHECKS=$((CHECKS + 1))
[ -z "$h2" ] || fail "h2 answered '$h2' from a corrupted slot"
for _ in $(seq 50); do
	"$CTL" $S list | grep -q "^h2 .*killed" && break
	sleep 0.1
done
"$CTL" $S list >"$TMP/list2.txt"
expect_in corrupt "$TMP/list2.txt" "killed"
CHECKS=$((CHECKS + 1))
grep "^h2 " "$TMP/list2.txt" | grep -q "checksum" || fail "h2: no checksum reason: $(grep '^h2 ' "$TMP/list2.txt")"
expect_in corrupt-log "$TMP/d.log" "h2"
for i in 3 4; do
	h=$(get "${ADDR[$i]}" /hits)
	CHECKS=$((CHECKS + 1))
	[ "$h" = "$((HITS[$i] + 2))" ] || fail "h$i: neighbour of the corrupted VM answered '$h'"
done
"$CTL" $S stats --json >"$TMP/s3.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/s3.json" "d['swap']['checksum_failures']")" -ge 1 ] || fail "checksum failure not counted"

# Hostile: the file at a swapped VM's disk path is replaced (same bytes, another inode)
# while it is out. Its swap-in opens the path again and refuses the other file: it is
# killed with the reason and never runs on a disk it was not given. Last: every VM out
# now would meet the same file.
"$CTL" $S swap in h5 >/dev/null 2>&1
"$CTL" $S swap out h5 >"$TMP/out5.txt" 2>&1 || fail "swap out h5: $(cat "$TMP/out5.txt")"
cp "$TMP/site.img" "$TMP/site.new" && mv "$TMP/site.new" "$TMP/site.img"
h5=$(in_ns curl -s -m 5 "http://${ADDR[5]}/hits" 2>/dev/null)
CHECKS=$((CHECKS + 1))
[ -z "$h5" ] || fail "h5 answered '$h5' with another file at its disk's path"
for _ in $(seq 50); do
	"$CTL" $S list | grep -q "^h5 .*killed" && break
	sleep 0.1
done
"$CTL" $S list >"$TMP/list5.txt"
CHECKS=$((CHECKS + 1))
grep "^h5 " "$TMP/list5.txt" | grep -q "killed.*its devices" ||
	fail "h5: not killed for its disk: $(grep '^h5 ' "$TMP/list5.txt")"
finish
