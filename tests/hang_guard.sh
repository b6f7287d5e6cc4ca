# hang_guard.sh - sourced by the tests that create a network namespace (not run).
#
# CTest ends a test that runs past its TIMEOUT with SIGKILL, so the test's EXIT trap never
# runs and its namespace, tap and temp files stay behind. hang_guard SECS (SECS below the
# test's CTest TIMEOUT) ends the test itself first: after SECS it prints why, sends SIGTERM to
# the script and to its direct children (processes the test started; the script's wait on a
# foreground child does not delay it), and bash runs the EXIT trap, which cleans up.
# The guard checks once a second that the script still runs, and leaves when it has ended.
hang_guard() {
	local secs=$1 me=$$
	# started from a subshell that exits at once: the guard is not the script's child, so a
	# `wait` for the test's own children (kill_wait, cleanups) does not wait for it
	( (
		for ((i = 0; i < secs; i++)); do
			sleep 1
			kill -0 "$me" 2>/dev/null || exit 0
		done
		echo "FAIL: hang guard: still running after $secs s; ending the test so that its EXIT trap cleans up" >&2
		# the children first listed, then the script (bash runs its EXIT trap and dies at
		# once, even in a wait), then the children, which init has adopted by then
		local kids p
		kids=$(pgrep -P "$me")
		kill -TERM "$me" 2>/dev/null
		for p in $kids; do
			[ "$p" != "$BASHPID" ] && kill -TERM "$p" 2>/dev/null
		done
		exit 0
	) & )
}
