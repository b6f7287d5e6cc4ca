#!/usr/bin/env bash
# Least privilege of `denalid serve` run as root: after start-up no thread of
# the daemon holds a capability (and no false or true "still hold capabilities"
# line is logged), every worker thread (denali-wN), its block poller (denali-bpN)
# and the shell reclaimer (denali-reclaim) run under the worker seccomp filter, and the VMs still run
# under it. Three starts, since the race this
# guards against (threads that dropped their own capabilities late) showed in
# two starts of three.
. "$(dirname "$0")/lib.sh"
require_kvm
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root, to start the daemon with capabilities to drop"
	exit 77
fi
CTL="$BIN/denalictl"
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

for run in 1 2 3; do
	S="--socket $TMP/p$run.sock"
	"$DENALID" serve $S --state-dir "$TMP/p$run.state" --workers 3 >"$TMP/p$run.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		grep -q "ready" "$TMP/p$run.log" 2>/dev/null && break
		sleep 0.1
	done
	expect_in "run $run: ready" "$TMP/p$run.log" "ctl_serve_main: ready"
	expect_in "run $run: dropped" "$TMP/p$run.log" "dropped every capability"
	expect_not_in "run $run: no thread keeps capabilities" "$TMP/p$run.log" "still hold"
	workers=0 reclaim=0 fill=0 pollers=0
	for st in /proc/$DPID/task/*/status; do
		name=$(awk '$1 == "Name:" {print $2}' "$st")
		eff=$(awk '$1 == "CapEff:" {print $2}' "$st")
		prm=$(awk '$1 == "CapPrm:" {print $2}' "$st")
		CHECKS=$((CHECKS + 1))
		[ "$eff" = 0000000000000000 ] && [ "$prm" = 0000000000000000 ] ||
			fail "run $run: thread $name ($st) holds capabilities: eff $eff prm $prm"
		case $name in
		denali-w*)
			workers=$((workers + 1))
			CHECKS=$((CHECKS + 1))
			[ "$(awk '$1 == "Seccomp:" {print $2}' "$st")" = 2 ] ||
				fail "run $run: worker $name is not under a seccomp filter"
			;;
		denali-bp*)
			# a worker's block poller reads guest rings: confined alike
			pollers=$((pollers + 1))
			CHECKS=$((CHECKS + 1))
			[ "$(awk '$1 == "Seccomp:" {print $2}' "$st")" = 2 ] ||
				fail "run $run: block poller $name is not under the worker filter"
			;;
		denali-reclaim)
			# the shell reclaimer works on KVM shells beside the workers: confined alike
			reclaim=$((reclaim + 1))
			CHECKS=$((CHECKS + 1))
			[ "$(awk '$1 == "Seccomp:" {print $2}' "$st")" = 2 ] ||
				fail "run $run: the shell reclaimer is not under the worker filter"
			;;
		denali-fill)
			# the shell filler makes KVM shells ahead of time: confined alike
			fill=$((fill + 1))
			CHECKS=$((CHECKS + 1))
			[ "$(awk '$1 == "Seccomp:" {print $2}' "$st")" = 2 ] ||
				fail "run $run: the shell filler is not under the worker filter"
			;;
		*)
			CHECKS=$((CHECKS + 1))
			[ "$(awk '$1 == "Seccomp:" {print $2}' "$st")" = 0 ] ||
				fail "run $run: non-worker thread $name is filtered"
			;;
		esac
	done
	CHECKS=$((CHECKS + 1))
	[ "$workers" = 3 ] || fail "run $run: $workers worker threads named denali-w*, not 3"
	CHECKS=$((CHECKS + 1))
	[ "$pollers" = 3 ] || fail "run $run: $pollers block pollers named denali-bp*, not 3"
	CHECKS=$((CHECKS + 1))
	# RECLAIM_THREADS in src/vmm/shell_pool.c (teardowns mostly wait: they run side by side)
	[ "$reclaim" = 8 ] || fail "run $run: $reclaim shell reclaimer threads, not 8"
	CHECKS=$((CHECKS + 1))
	[ "$fill" = 1 ] || fail "run $run: $fill shell filler threads, not 1"
	# The filtered workers run guests to their end.
	"$CTL" $S start h "$GUESTS/hello" --count 4 -- x >"$TMP/p$run.start" 2>&1
	expect_status "run $run: start" 0 "$?"
	for _ in $(seq 100); do
		[ "$("$CTL" $S list --json | python3 -c 'import json,sys; print(sum(v["state"] == "exited" for v in json.load(sys.stdin)))')" = 4 ] && break
		sleep 0.1
	done
	"$CTL" $S list --json >"$TMP/p$run.list"
	CHECKS=$((CHECKS + 1))
	[ "$(python3 -c 'import json,sys; print(sum(v["state"] == "exited" for v in json.load(open(sys.argv[1]))))' "$TMP/p$run.list")" = 4 ] ||
		fail "run $run: the hello VMs did not all exit under the workers' filter"
	CHECKS=$((CHECKS + 1))
	kill -0 "$DPID" 2>/dev/null || fail "run $run: the daemon died (SIGSYS?)"
	kill -TERM "$DPID"
	wait "$DPID"
	expect_status "run $run: sigterm" 0 "$?"
	DPID=
done

# Under systemd (INVOCATION_ID set), an image in a directory the unit hides is refused with
# the reason and where images belong; outside systemd the plain error stays.
for mode in systemd plain; do
	S="--socket $TMP/i$mode.sock"
	if [ $mode = systemd ]; then
		INVOCATION_ID=0123456789abcdef "$DENALID" serve $S --state-dir "$TMP/i$mode.state" \
			>"$TMP/i$mode.log" 2>&1 &
	else
		env -u INVOCATION_ID "$DENALID" serve $S --state-dir "$TMP/i$mode.state" \
			>"$TMP/i$mode.log" 2>&1 &
	fi
	DPID=$!
	for _ in $(seq 100); do grep -q "ready" "$TMP/i$mode.log" 2>/dev/null && break; sleep 0.1; done
	"$CTL" $S start hidden /tmp/denali-no-such-dir/image.elf >"$TMP/i$mode.out" 2>&1
	st=$?
	CHECKS=$((CHECKS + 1))
	[ $st -ne 0 ] || fail "$mode: a missing image was accepted"
	"$CTL" $S start home /root/denali-no-such-image.elf >"$TMP/i$mode.home" 2>&1
	if [ $mode = systemd ]; then
		expect_in "hint /tmp" "$TMP/i$mode.out" "PrivateTmp="
		expect_in "hint where" "$TMP/i$mode.out" "/var/lib/denalid/images"
		expect_in "hint /root" "$TMP/i$mode.home" "ProtectHome="
	else
		expect_in "plain" "$TMP/i$mode.out" "cannot read image /tmp/denali-no-such-dir/image.elf"
		expect_not_in "plain" "$TMP/i$mode.out" "PrivateTmp="
	fi
	kill -TERM "$DPID"
	wait "$DPID"
	DPID=
done
finish
