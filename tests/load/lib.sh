# lib.sh - helpers shared by the load-generator integration tests (sourced, not run).

# jget KEY FILE: a numeric field of the last JSON line in FILE.
jget() {
	tail -n 1 "$2" | sed -n 's/.*"'"$1"'":\([-0-9.eE+]*\).*/\1/p'
}

# check DESCRIPTION AWK-CONDITION: report, and fail the test when the condition is false.
check() {
	if awk "BEGIN { exit !($2) }"; then
		echo "ok:   $1"
	else
		echo "FAIL: $1 ($2)"
		FAILED=1
	fi
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# wait_file FILE: wait up to 5 s for a server to write its port file.
wait_file() {
	for _ in $(seq 50); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
