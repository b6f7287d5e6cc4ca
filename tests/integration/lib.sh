# Shared helpers for the integration tests: assertions and the KVM skip.
# Each test script sources this, sets BIN and GUESTS from its arguments.
set -u
BIN=${1:?usage: $0 BIN_DIR GUEST_DIR}
GUESTS=${2:?usage: $0 BIN_DIR GUEST_DIR}
DENALID="$BIN/denalid"
TMP=$(mktemp -d /tmp/denali-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
CHECKS=0
. "$(dirname "${BASH_SOURCE[0]}")/../hang_guard.sh"

require_kvm() {
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "SKIP: /dev/kvm is missing or not accessible; this test boots real VMs"
		exit 77
	fi
}

fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

# expect_status NAME EXPECTED ACTUAL
expect_status() {
	CHECKS=$((CHECKS + 1))
	[ "$2" = "$3" ] || fail "$1: exit status $3, expected $2"
}

# expect_in NAME FILE TEXT: FILE contains the fixed string TEXT
expect_in() {
	CHECKS=$((CHECKS + 1))
	grep -qF -- "$3" "$2" || { fail "$1: '$3' not in output:"; sed 's/^/    | /' "$2" | head -20; }
}

expect_not_in() {
	CHECKS=$((CHECKS + 1))
	if grep -qF -- "$3" "$2"; then fail "$1: unexpected '$3' in output"; fi
}

# run_denalid NAME ARGS...: runs denalid, stdout in $TMP/NAME.out, stderr in
# $TMP/NAME.err, status in $STATUS
run_denalid() {
	local name=$1
	shift
	timeout 120 "$DENALID" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	STATUS=$?
}

finish() {
	echo "$CHECKS checks, $FAILS failed"
	[ "$FAILS" -eq 0 ]
	exit $?
}

# --- denalid serve helpers --------------------------------------------------------
CTL="$BIN/denalictl"
DAEMON_PIDS=()
# Ends the daemons this test started (by pid), then removes $TMP.
daemons_cleanup() {
	for p in "${DAEMON_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}

# daemon_launch NAME ARGS...: starts denalid serve on $TMP/NAME.sock with state in
# $TMP/NAME.state and its log in $TMP/NAME.log; pid in $DPID. Does not wait.
daemon_launch() {
	local name=$1
	shift
	"$DENALID" serve --socket "$TMP/$name.sock" --state-dir "$TMP/$name.state" "$@" \
		>"$TMP/$name.log" 2>&1 &
	DPID=$!
	DAEMON_PIDS+=("$DPID")
}

# daemon_wait NAME: 0 once the daemon on $TMP/NAME.sock answers list (a hang guard of 60 s:
# a loaded host may take long to start one).
daemon_wait() {
	local end=$((SECONDS + 60))
	while [ $SECONDS -lt $end ]; do
		timeout 2 "$CTL" --socket "$TMP/$1.sock" list >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# daemon_start NAME ARGS...: launch and wait; a daemon that never answers ends the test.
daemon_start() {
	daemon_launch "$@"
	daemon_wait "$1" && return 0
	fail "$1: daemon not answering"
	sed 's/^/    | /' "$TMP/$1.log" | tail -20
	finish
}

# daemon_stop PID: SIGTERM and wait at most 10 s; 0 if it exited with status 0.
daemon_stop() {
	local p=$1 st
	kill -TERM "$p" 2>/dev/null || return 1
	for _ in $(seq 100); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$p" 2>/dev/null; then
		kill -KILL "$p"
		wait "$p" 2>/dev/null
		return 1
	fi
	wait "$p"
	st=$?
	return $st
}

# json FILE EXPR: evaluates a Python expression on the JSON in FILE as d
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- a network namespace and a tap of the test's own ----------------------------------
# require_netns [PROGRAM...]: SKIP (77) unless this runs as root with /dev/net/tun, ip(8) and
# every PROGRAM named.
require_netns() {
	if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
		echo "SKIP: needs root and /dev/net/tun for a namespace and a tap of its own"
		exit 77
	fi
	for p in ip "$@"; do
		command -v "$p" >/dev/null || { echo "SKIP: $p is missing"; exit 77; }
	done
}

NETNS=
# netns_add NS: creates namespace NS (SKIP if that fails) with lo up and IPv6 off; in_ns
# CMD... runs a command there. netns_cleanup deletes it: call it from the test's EXIT trap.
netns_add() {
	NETNS=$1
	ip netns add "$NETNS" || { NETNS=; echo "SKIP: cannot create a network namespace"; exit 77; }
	hang_guard "${HANG_GUARD_S:-270}"
	ip -n "$NETNS" link set lo up
	in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# netns_up NS TAP ADDR/LEN: netns_add NS, and in it tap TAP carrying the host's address
# ADDR/LEN, up. DENALID becomes a wrapper that runs denalid inside NS.
netns_up() {
	netns_add "$1"
	ip -n "$NETNS" tuntap add dev "$2" mode tap
	ip -n "$NETNS" addr add "$3" dev "$2"
	ip -n "$NETNS" link set "$2" up
	printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NETNS" "$BIN/denalid" >"$TMP/denalid-ns"
	chmod +x "$TMP/denalid-ns"
	DENALID=$TMP/denalid-ns
}

in_ns() { ip netns exec "$NETNS" "$@"; }

netns_cleanup() {
	[ -n "$NETNS" ] && ip netns del "$NETNS" 2>/dev/null
	return 0
}

# httpd_fleet N SITE_IMG TAP: starts httpd VMs h0..h(N-1) on the daemon at $S, each with a NIC
# and SITE_IMG as its read-only disk, serving port 80; ADDR[i] is h<i>'s address. Their
# neighbour entries on TAP are fixed, so that no ARP broadcast from Linux wakes every VM.
httpd_fleet() {
	local n=$1 img=$2 tap=$3 i id mac
	for i in $(seq 0 $((n - 1))); do
		"$CTL" $S start "h$i" "$GUESTS/httpd" --net --disk "$img" --disk-ro -- 80 \
			>/dev/null || fail "start h$i"
	done
	"$CTL" $S list --json >"$TMP/fleet.json"
	for i in $(seq 0 $((n - 1))); do
		id=$(json "$TMP/fleet.json" "[v['id'] for v in d if v['name'] == 'h$i'][0]")
		ADDR[$i]=$(json "$TMP/fleet.json" "[v['ipv4'] for v in d if v['name'] == 'h$i'][0]")
		mac=$(printf '02:de:%02x:%02x:%02x:%02x' $((id >> 24 & 255)) $((id >> 16 & 255)) \
			$((id >> 8 & 255)) $((id & 255)))
		ip -n "$NETNS" neigh replace "${ADDR[$i]}" lladdr "$mac" dev "$tap" nud permanent
	done
}

# on_tty OUT CMD...: runs CMD with its stdout on a pseudo-terminal (raw: no newline
# translation), what it wrote there in OUT; stderr and stdin are /dev/null.
on_tty() {
	local out=$1
	shift
	python3 - "$out" "$@" <<'PY'
import os, subprocess, sys, tty
m, s = os.openpty()
tty.setraw(s)
p = subprocess.Popen(sys.argv[2:], stdout=s, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
os.close(s)
out = b""
while True:
    try:
        d = os.read(m, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
p.wait()
open(sys.argv[1], "wb").write(out)
PY
}

# expect_term_safe NAME FILE: FILE holds nothing a terminal would act on (C0 controls but
# newline and tab, DEL, C1 controls raw or in UTF-8).
expect_term_safe() {
	CHECKS=$((CHECKS + 1))
	python3 - "$2" <<'PY' || fail "$1: control bytes reached the terminal: $(od -c "$2" | head -3)"
import re, sys
d = open(sys.argv[1], "rb").read()
sys.exit(1 if re.search(rb"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]", d.replace(b"\xc3\xa9", b"").replace(b"\xe2\x9c\x93", b"")) else 0)
PY
}

# wait_for FILE TEXT: 0 once FILE holds the fixed string TEXT; a hang guard of 60 s.
wait_for() {
	for _ in $(seq 600); do
		grep -qF -- "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}

# expect_ge NAME VALUE MIN: VALUE is a number of at least MIN
expect_ge() {
	CHECKS=$((CHECKS + 1))
	[ -n "$2" ] && [ "$2" -ge "$3" ] || fail "$1 is '$2', expected at least $3"
}

# site_img BYTES: $TMP/site.img, a rofs image holding big.bin, BYTES random bytes
# ($TMP/site/big.bin too).
site_img() {
	mkdir -p "$TMP/site"
	head -c "$1" /dev/urandom >"$TMP/site/big.bin"
	"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
	expect_status mkfs 0 $?
}

# kill_wait PID...: ends the processes this test started (empty PIDs are skipped), waits.
kill_wait() {
	for p in "$@"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	return 0
}
