#!/usr/bin/env bash
# Every hostile guest is killed with its expected reason while a well-behaved
# VM in the same denalid process finishes normally.
. "$(dirname "$0")/lib.sh"
require_kvm

check() {
	local g=$1 reason=$2
	run_denalid "$g" run "$GUESTS/hostile-$g" --with "$GUESTS/sleeper 3 10"
	expect_status "$g" 125 "$STATUS"
	expect_in "$g" "$TMP/$g.err" "vm hostile-$g-0 killed: $reason"
	CHECKS=$((CHECKS + 1))
	[ "$(grep -c 'sleeper-1: slept 10 ms late' "$TMP/$g.out")" = 3 ] ||
		fail "$g: the well-behaved sleeper did not finish beside it"
	expect_not_in "$g" "$TMP/$g.err" "sleeper-1 killed"
	expect_not_in "$g" "$TMP/$g.out" "survived"
}

check argblock "idle: argument block at 0x1001000 is outside guest memory"
check wrap "panic: message [0x200000, +0xffffffffffffff00) is outside guest memory"
check ringindex "console ring: producer index"
check descaddr "console ring: descriptor"
check port "out to unknown port 0x600"
check mmio "triple fault: access outside guest memory at 0x1010000"
check page0 "triple fault: null-page access at 0x8"
check priv "triple fault: privileged instruction (hlt)"
check triple "triple fault: invalid opcode (ud2)"
check vregs "triple fault: write to monitor-owned virtual registers at 0x1008"
check panicblock "panic: argument block at 0x10 is outside guest memory"
check desclen "console ring: descriptor 1 length 8192 exceeds 4096"
check hcsize "hypercall port 0x500: bad access (dir 1 size 1 count 1)"

# The shell a faulting VM leaves behind serves the next VM as new: one
# worker, so the neighbour binds the shell the hostile guest died in.
for g in triple page0 vregs; do
	run_denalid "reuse-$g" run --workers 1 "$GUESTS/hostile-$g" --with "$GUESTS/hello after"
	expect_status "reuse-$g" 125 "$STATUS"
	expect_in "reuse-$g" "$TMP/reuse-$g.out" "hello-1: argv[1] = after"
done

# A console flood is rate-limited, not fatal: bounded output, drops counted.
run_denalid flood run "$GUESTS/hostile-flood" --with "$GUESTS/sleeper 3 10"
expect_status flood 0 "$STATUS"
expect_in flood "$TMP/flood.err" "console bytes dropped by the rate limit"
expect_in flood "$TMP/flood.out" "[denali: console output dropped: rate limit]"
CHECKS=$((CHECKS + 1))
[ "$(stat -c %s "$TMP/flood.out")" -lt $((4 << 20)) ] || fail "flood: output not bounded"
CHECKS=$((CHECKS + 1))
[ "$(grep -c 'sleeper-1: slept 10 ms late' "$TMP/flood.out")" = 3 ] || fail "flood: sleeper"
finish
