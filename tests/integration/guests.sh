#!/usr/bin/env bash
# Boots every example guest and checks its output and exit status.
. "$(dirname "$0")/lib.sh"
require_kvm

run_denalid hello run "$GUESTS/hello" -- alpha "two words"
expect_status hello 0 "$STATUS"
expect_in hello "$TMP/hello.out" "hello from denali"
expect_in hello "$TMP/hello.out" "argv[0] = hello"
expect_in hello "$TMP/hello.out" "argv[1] = alpha"
expect_in hello "$TMP/hello.out" "argv[2] = two words"

run_denalid exit0 run "$GUESTS/exit" -- 0
expect_status exit0 0 "$STATUS"
run_denalid exit7 run "$GUESTS/exit" -- 7
expect_status exit7 7 "$STATUS"

run_denalid spin run "$GUESTS/spin" -- 50
expect_status spin 0 "$STATUS"
expect_in spin "$TMP/spin.out" "spun 50 ms"

run_denalid sleeper run "$GUESTS/sleeper" -- 3 10
expect_status sleeper 0 "$STATUS"
CHECKS=$((CHECKS + 1))
[ "$(grep -c '^slept 10 ms late [0-9]* us$' "$TMP/sleeper.out")" = 3 ] ||
	fail "sleeper: expected 3 'slept 10 ms late N us' lines"

# Several instances: output prefixed with the VM name, first non-zero status.
run_denalid fleet run --count 3 "$GUESTS/hello" -- x
expect_status fleet 0 "$STATUS"
for i in 0 1 2; do expect_in fleet "$TMP/fleet.out" "hello-$i: argv[1] = x"; done
run_denalid mixed run "$GUESTS/exit" --with "$GUESTS/hello" -- 3
expect_status mixed 3 "$STATUS"

# A reused shell must not show the previous tenant's vector registers: one
# worker, the writer exits first and its shell is the one the reader gets.
run_denalid vec run --workers 1 "$GUESTS/vecsecret" --with "$GUESTS/vecsecret read" -- write
expect_status vec 0 "$STATUS"
expect_in vec "$TMP/vec.out" "vector state: clean"
expect_not_in vec "$TMP/vec.out" "LEAKED"

# Errors of the command line and of images.
run_denalid noimage run /nonexistent/image
expect_status noimage 1 "$STATUS"
expect_in noimage "$TMP/noimage.err" "cannot read image /nonexistent/image"
run_denalid badmem run --mem 3M "$GUESTS/hello"
expect_status badmem 2 "$STATUS"
expect_in badmem "$TMP/badmem.err" "bad memory size '3M'"
run_denalid dynamic run /bin/true
expect_status dynamic 1 "$STATUS"
expect_in dynamic "$TMP/dynamic.err" "not a static executable"
head -c 100 "$GUESTS/hello" >"$TMP/truncated"
run_denalid truncated run "$TMP/truncated"
expect_status truncated 1 "$STATUS"
expect_in truncated "$TMP/truncated.err" "truncated"
run_denalid help run --help
expect_status help 0 "$STATUS"
expect_in help "$TMP/help.out" "usage: denalid run IMAGE"

# Without /dev/kvm: a clear error, in a mount namespace that hides it.
if command -v unshare >/dev/null; then
	timeout 30 unshare -m sh -c "mount -t tmpfs none /dev && exec $DENALID run $GUESTS/hello" \
		>"$TMP/nokvm.out" 2>"$TMP/nokvm.err"
	expect_status nokvm 1 "$?"
	expect_in nokvm "$TMP/nokvm.err" "cannot open /dev/kvm"
fi
# The per-VM secret in the vregs: 32 random bytes, different in every VM.
run_denalid secret run --count 2 "$GUESTS/secret"
expect_status secret 0 "$STATUS"
CHECKS=$((CHECKS + 1))
[ "$(grep -c 'secret [0-9a-f]\{64\} nonzero' "$TMP/secret.out")" = 2 ] || fail "secret: two secrets"
CHECKS=$((CHECKS + 1))
[ "$(grep -o 'secret [0-9a-f]*' "$TMP/secret.out" | sort -u | wc -l)" = 2 ] ||
	fail "secret: the two VMs got the same secret"
CHECKS=$((CHECKS + 1))
grep -q 'nonzero \(0\|1\|2\|3\)$' "$TMP/secret.out" && fail "secret: mostly zero bytes"
# Every documented ablation flag of run is taken (--events-unbatched shared its option code
# with --swap-unit and was refused as a size).
run_denalid unbatched run --events-unbatched "$GUESTS/hello" unbatched
expect_status unbatched 0 "$STATUS"
expect_in unbatched "$TMP/unbatched.out" "argv[1] = unbatched"
finish
