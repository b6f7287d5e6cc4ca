#!/usr/bin/env bash
# The fleet's life cycle under load (issue 12 item 6), at small scale: four httpd services in
# `denalid serve` on a tap in a network namespace of this test's own (198.18.31.0/24), with a
# client looping over all of them the whole time. One service is stopped and started again
# (a new VM, a new address: it answers there), then the daemon is restarted (SIGTERM, then
# serve again on the same state directory) with the client still running. Afterwards every
# service answers again, byte-exact, at the address it had before the restart, and the
# client saw answers after the restart. No timing is asserted (hang guards only).
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns curl
[ -x "$GUESTS/httpd" ] || { echo "SKIP: the httpd guest is not built"; exit 77; }
NS=denali-rsl-$$
TAP=rslt$$
CLIENT=
trap '[ -n "$CLIENT" ] && kill "$CLIENT" 2>/dev/null; daemons_cleanup; netns_cleanup' EXIT
netns_up "$NS" "$TAP" 198.18.31.1/24
S="--socket $TMP/d.sock"

mkdir -p "$TMP/site"
head -c 2258 /dev/urandom | base64 -w 76 | head -c 2258 >"$TMP/site/page.html"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
expect_status mkfs 0 $?

daemon_start d --workers 2 --net 198.18.31.0/24 --tap "$TAP"
"$CTL" $S start svc "$GUESTS/httpd" --count 4 --mem 4M --net --disk "$TMP/site.img" --disk-ro \
	-- 80 16 >/dev/null
expect_status start 0 $?

# addrs: "NAME ADDR" of every live service, from the daemon's list
addrs() {
	"$CTL" $S list --json >"$TMP/l.json" 2>/dev/null &&
		json "$TMP/l.json" "'\n'.join(v['name'] + ' ' + v['ipv4'] for v in sorted(d, key=lambda v: v['name']) if v['name'].startswith('svc-') and v.get('ipv4') and v['state'] in ('idle', 'running', 'runnable'))"
}
# get ADDR: one GET of the page, byte-exact, at most 20 s
get() {
	ip netns exec "$NS" curl -s --max-time 20 -o "$TMP/got.$1" "http://$1/page.html" &&
		cmp -s "$TMP/got.$1" "$TMP/site/page.html"
}
# all_answer WHAT: every service in the list answers (each retried for up to 60 s)
all_answer() {
	local n=0 name a ok
	addrs >"$TMP/addrs" || true
	while read -r name a; do
		n=$((n + 1))
		ok=0
		for _ in $(seq 30); do get "$a" && { ok=1; break; }; sleep 2; done
		CHECKS=$((CHECKS + 1))
		[ "$ok" = 1 ] || fail "$1: $name at $a does not answer"
	done <"$TMP/addrs"
	CHECKS=$((CHECKS + 1))
	[ "$n" -eq 4 ] || fail "$1: $n services live, expected 4"
}
all_answer "at start"
addrs >"$TMP/before"

# The client: GETs round the fleet until told to stop; one line per answer or failure.
(
	while [ ! -e "$TMP/stop" ]; do
		while read -r name a; do
			if ip netns exec "$NS" curl -s --max-time 5 -o "$TMP/c.out" "http://$a/page.html" &&
				cmp -s "$TMP/c.out" "$TMP/site/page.html"; then
				echo "ok $name $(cat "$TMP/phase" 2>/dev/null)"
			else
				echo "fail $name $(cat "$TMP/phase" 2>/dev/null)"
			fi
		done <"$TMP/before"
	done >"$TMP/client.log"
) &
CLIENT=$!
echo plateau >"$TMP/phase"
sleep 2

# stop and start one service: a new VM (new id, new address) that answers there
"$CTL" $S stop svc-2 >/dev/null
expect_status stop 0 $?
"$CTL" $S start svc-2 "$GUESTS/httpd" --mem 4M --net --disk "$TMP/site.img" --disk-ro \
	-- 80 16 >/dev/null
expect_status restart-one 0 $?
all_answer "after stop and start of svc-2"
addrs >"$TMP/before" # the client follows svc-2 to its new address
cp "$TMP/before" "$TMP/before.restart"

# the daemon restarted under the load, on the same state directory
echo restart >"$TMP/phase"
daemon_stop "$DPID"
expect_status sigterm 0 $?
daemon_start d --workers 2 --net 198.18.31.0/24 --tap "$TAP"
for _ in $(seq 150); do [ "$(addrs | wc -l)" -ge 4 ] && break; sleep 0.2; done
all_answer "after the daemon restart"
addrs >"$TMP/after"
CHECKS=$((CHECKS + 1))
cmp -s "$TMP/before.restart" "$TMP/after" ||
	{ fail "addresses changed across the restart"; diff "$TMP/before.restart" "$TMP/after"; }
echo after >"$TMP/phase"
# until the client has been round the fleet once after the restart (hang guard 120 s)
for _ in $(seq 600); do
	[ "$(grep -c ' after$' "$TMP/client.log")" -ge 8 ] && break
	sleep 0.2
done
touch "$TMP/stop"
wait "$CLIENT"
CLIENT=
for n in 0 1 2 3; do
	CHECKS=$((CHECKS + 1))
	grep -q "^ok svc-$n after$" "$TMP/client.log" ||
		fail "the client got no answer from svc-$n after the restart"
done
CHECKS=$((CHECKS + 1))
grep -q "^ok .* plateau$" "$TMP/client.log" || fail "the client got no answer before the restart"
echo "client: $(grep -c '^ok' "$TMP/client.log") answers, $(grep -c '^fail' "$TMP/client.log") failures"
finish
