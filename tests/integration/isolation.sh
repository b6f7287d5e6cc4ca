#!/usr/bin/env bash
# Performance isolation at small scale (issue 12): a victim httpd VM in
# `denalid serve`, reached with curl over a tap in a network namespace of
# this test's own (198.18.30.0/24), must keep answering correctly while each
# hog runs beside it in turn (guests/hog: CPU, exits, disk flood, net flood
# to the uplink and as broadcasts, memory), then beside all of them at once.
# No timing is asserted: curl's --max-time is a generous hang guard only.
# Each hog must also be seen hogging (running, and its console reporting
# work done), so the test cannot pass with a hog that did nothing.
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns curl
if [ ! -x "$GUESTS/httpd" ] || [ ! -x "$GUESTS/hog-cpu" ]; then
	echo "SKIP: the httpd or hog guests are not built"
	exit 77
fi
NS=denali-iso-$$
TAP=isot$$
trap 'daemons_cleanup; netns_cleanup' EXIT
netns_up "$NS" "$TAP" 198.18.30.1/24

mkdir -p "$TMP/site"
head -c 2258 /dev/urandom | base64 -w 76 | head -c 2258 >"$TMP/site/page.html"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
expect_status mkfs 0 $?
truncate -s 64M "$TMP/hog.img"

daemon_start d --workers 2 --net 198.18.30.0/24 --tap "$TAP"
S="--socket $TMP/d.sock"
"$CTL" $S start victim "$GUESTS/httpd" --net --disk "$TMP/site.img" --disk-ro -- 80 32 >/dev/null
expect_status start-victim 0 $?
"$CTL" $S list --json >"$TMP/l.json"
ADDR=$(json "$TMP/l.json" "[v['ipv4'] for v in d if v['name'] == 'victim'][0]")
log() { cat "$TMP/d.state/vms/$1/console.log" 2>/dev/null; }
for _ in $(seq 300); do log victim | grep -q "listening on port 80" && break; sleep 0.1; done
expect_in victim-up <(log victim) "listening on port 80"

# served NAME: 8 GETs of the page, each byte-exact (one connection each).
served() {
	local ok=0
	for i in $(seq 8); do
		ip netns exec "$NS" curl -s --max-time 30 -o "$TMP/got" "http://$ADDR/page.html" &&
			cmp -s "$TMP/got" "$TMP/site/page.html" && ok=$((ok + 1))
	done
	CHECKS=$((CHECKS + 1))
	[ "$ok" -eq 8 ] || fail "$1: victim answered $ok of 8 requests correctly"
}
served alone

# The hogs, as bench/isolation starts them (hog-KIND, consoles in the state dir).
. "$(dirname "$0")/../../bench/isolation/hogs.sh"
HOG_CTL="$CTL $S"
HOG_GUESTS=$GUESTS
HOG_STATE=$TMP/d.state
HOG_DISK=$TMP/hog.img
HOGS="cpu exits disk net bcast mem"

# hogging KIND: the hog is live and has reported work.
hogging() {
	local st
	CHECKS=$((CHECKS + 1))
	hog_wait_working "$1" || { fail "hog-$1: no work reported"; hog_log "$1" | tail -5; }
	st=$($CTL $S list --json >"$TMP/h.json" && json "$TMP/h.json" \
		"[v['state'] for v in d if v['name'] == 'hog-$1'][0]")
	CHECKS=$((CHECKS + 1))
	case "$st" in running | runnable | idle) ;; *) fail "hog-$1: state $st, not live" ;; esac
}

for h in $HOGS; do
	hog_start "$h" 0
	expect_status "start-hog-$h" 0 $?
	hogging "$h"
	served "beside hog-$h"
	hogging "$h" # still at it while the victim was served
	"$CTL" $S stop "hog-$h" >/dev/null
	expect_status "stop-hog-$h" 0 $?
done

for h in $HOGS; do hog_start "$h" 0 || fail "hog-$h did not start"; done
for h in $HOGS; do hogging "$h"; done
served "beside every hog at once"
for h in $HOGS; do "$CTL" $S stop "hog-$h" >/dev/null; done

# The victim itself is unharmed: live, never restarted.
"$CTL" $S list --json >"$TMP/l.json"
CHECKS=$((CHECKS + 1))
st=$(json "$TMP/l.json" "[v['state'] for v in d if v['name'] == 'victim'][0]")
case "$st" in running | runnable | idle) ;; *) fail "victim: state $st at the end" ;; esac
CHECKS=$((CHECKS + 1))
[ "$(log victim | grep -c 'listening on port 80')" -eq 1 ] || fail "victim restarted"
finish
