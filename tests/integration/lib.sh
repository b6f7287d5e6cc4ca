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
