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
