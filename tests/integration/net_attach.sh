#!/usr/bin/env bash
# denalictl net attach (issue 9 item 4), in a namespace of this test's own
# (198.18.12.0/24): the uplink's tap is deleted while VMs talk: every VM
# lives, VM <-> VM pings never stop, the uplink is counted down; attaching to
# a tap that does not exist fails; `net attach` to a new tap resumes uplink
# traffic there, and back to a re-created first tap, no VM restarted. The
# uplink thread holds no capability throughout.
. "$(dirname "$0")/lib.sh"
require_kvm
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
	echo "SKIP: needs root, ip(8) and /dev/net/tun for a namespace and a tap of its own"
	exit 77
fi
NS=denali-natt-$$
A=natA$$ B=natB$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
trap 'daemons_cleanup; ip netns del "$NS" 2>/dev/null' EXIT
NX() { ip netns exec "$NS" "$@"; }
NX ip link set lo up
NX sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
make_tap() { # NAME
	NX ip tuntap add dev "$1" mode tap
	NX ip addr add 198.18.12.1/24 dev "$1"
	NX ip link set "$1" up
}
make_tap "$A"
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS" "$BIN/denalid" >"$TMP/denalid-ns"
chmod +x "$TMP/denalid-ns"
DENALID=$TMP/denalid-ns
P=$GUESTS/netpeer
PING=$BIN/denali-pktping
daemon_start d --workers 2 --net 198.18.12.0/24 --tap "$A"
S="--socket $TMP/d.sock"
mac_of() { # NAME: the MAC of VM NAME, from its id
	local id
	"$CTL" $S list --json >"$TMP/l.json"
	id=$(json "$TMP/l.json" "[v['id'] for v in d if v['name'] == '$1'][0]")
	printf '02:de:%02x:%02x:%02x:%02x' $((id >> 24 & 255)) $((id >> 16 & 255)) \
		$((id >> 8 & 255)) $((id & 255))
}
uplink() { # KEY: the uplink's KEY in stats
	"$CTL" $S stats --json >"$TMP/s.json"
	json "$TMP/s.json" "d['net']['uplink']['$1']"
}
host_ping() { # LABEL TAP MAC: 20 frames host -> VM -> host, every one back
	NX "$PING" "$2" "$3" 20 >"$TMP/$1.out" 2>&1
	expect_in "$1" "$TMP/$1.out" "pktping: sent 20 received 20 lost 0"
}
for v in echo vecho; do
	"$CTL" $S start "$v" "$P" --net -- echo 0 >/dev/null
	expect_status "start $v" 0 "$?"
done
MECHO=$(mac_of echo)
# VM <-> VM every 10 ms for 12 s, through everything below.
"$CTL" $S start vping "$P" --net -- ping "$(mac_of vecho)" 1200 10 >/dev/null
expect_status "start vping" 0 "$?"
host_ping ping-a "$A" "$MECHO"

# The tap goes away: the uplink is down and counted, the VMs go on.
NX ip link del "$A"
for _ in $(seq 100); do [ "$(uplink up)" = False ] && break; sleep 0.1; done
CHECKS=$((CHECKS + 1))
[ "$(uplink up)" = False ] || fail "the uplink is not marked down"
CHECKS=$((CHECKS + 1))
[ "$(uplink down_events)" = 1 ] || fail "down_events is $(uplink down_events), not 1"
"$CTL" $S net attach "$B" >"$TMP/att-none.out" 2>&1
expect_status "attach to a missing tap" 1 "$?"
expect_in "attach to a missing tap" "$TMP/att-none.out" "$B"
"$CTL" $S net attach "bad/name" >/dev/null 2>&1
expect_status "attach to a bad name" 2 "$?"

# A new tap of another name: net attach moves the uplink there.
make_tap "$B"
"$CTL" $S net attach "$B" >"$TMP/att-b.out" 2>&1
expect_status "attach $B" 0 "$?"
expect_in "attach $B" "$TMP/att-b.out" "uplink attached to $B"
CHECKS=$((CHECKS + 1))
[ "$(uplink tap)" = "$B" ] && [ "$(uplink up)" = True ] || fail "the uplink is not up on $B"
host_ping ping-b "$B" "$MECHO"
# A tap that does not exist while the uplink is up: it stays where it is.
"$CTL" $S net attach "natC$$" >/dev/null 2>&1
expect_status "attach to a missing tap while up" 1 "$?"
CHECKS=$((CHECKS + 1))
[ "$(uplink tap)" = "$B" ] && [ "$(uplink up)" = True ] || fail "the uplink left $B for nothing"
host_ping ping-b2 "$B" "$MECHO"

# The first tap again (re-created), while the uplink is up on the second.
make_tap "$A"
"$CTL" $S net attach "$A" >"$TMP/att-a.out" 2>&1
expect_status "attach $A again" 0 "$?"
CHECKS=$((CHECKS + 1))
[ "$(uplink tap)" = "$A" ] && [ "$(uplink up)" = True ] || fail "the uplink is not up on $A"
host_ping ping-a2 "$A" "$MECHO"
"$CTL" $S net attach "$A" >/dev/null 2>&1
expect_status "attach to the tap it has" 0 "$?"
CHECKS=$((CHECKS + 1))
[ "$(uplink reattaches)" = 2 ] || fail "reattaches is $(uplink reattaches), not 2"

# VM <-> VM never stopped; nobody died or restarted.
for _ in $(seq 300); do
	"$CTL" $S list | grep -q "^vping .*exited" && break
	sleep 0.1
done
"$CTL" $S console vping >"$TMP/vping.out"
expect_in vping "$TMP/vping.out" "ping sent 1200 received 1200"
"$CTL" $S list --json >"$TMP/l.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l.json" "sorted(v['name'] + ':' + v['state'].replace('running', 'idle') for v in d)")" = \
	"['echo:idle', 'vecho:idle', 'vping:exited']" ] ||
	fail "VM states: $(json "$TMP/l.json" "[(v['name'], v['state']) for v in d]")"
"$CTL" $S stats echo >"$TMP/stats-echo.txt"
expect_in "stats: exits per frame" "$TMP/stats-echo.txt" "exits per frame"
expect_in "stats: per entry" "$TMP/stats-echo.txt" "per entry"

# The uplink thread holds no capability, nor any other thread.
expect_not_in privs "$TMP/d.log" "still hold"
UPST=
for st in /proc/$DPID/task/*/status; do
	[ "$(awk '$1 == "Name:" {print $2}' "$st")" = denali-uplink ] && UPST=$st
done
CHECKS=$((CHECKS + 1))
[ -n "$UPST" ] || fail "no denali-uplink thread in the daemon"
[ -n "$UPST" ] && for k in CapEff CapPrm; do
	CHECKS=$((CHECKS + 1))
	[ "$(awk -v k="$k:" '$1 == k {print $2}' "$UPST")" = 0000000000000000 ] ||
		fail "the uplink thread holds capabilities ($k)"
done
finish
