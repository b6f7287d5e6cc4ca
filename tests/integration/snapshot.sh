#!/usr/bin/env bash
# A suspend/resume round trip (to a file, into a fresh shell) produces
# output identical to an uninterrupted run.
. "$(dirname "$0")/lib.sh"
require_kvm

run_denalid plain run "$GUESTS/count" -- 8
expect_status plain 0 "$STATUS"
run_denalid snap run --suspend-after 4 --snapshot-dir "$TMP" "$GUESTS/count" -- 8
expect_status snap 0 "$STATUS"
expect_in snap "$TMP/snap.err" "suspended after idle 4 and resumed in a fresh shell"
CHECKS=$((CHECKS + 1))
cmp -s "$TMP/plain.out" "$TMP/snap.out" || { fail "output differs after resume"; diff "$TMP/plain.out" "$TMP/snap.out"; }
CHECKS=$((CHECKS + 1))
[ "$(grep -c '^round ' "$TMP/snap.out")" = 8 ] || fail "expected 8 rounds"
# Several VMs, each suspended and resumed, on two workers.
run_denalid multi run --count 4 --suspend-after 2 --snapshot-dir "$TMP" "$GUESTS/count" -- 5
expect_status multi 0 "$STATUS"
for i in 0 1 2 3; do
	CHECKS=$((CHECKS + 1))
	diff <(grep "^count-$i: " "$TMP/multi.out" | sed "s/^count-$i: //") \
		<(head -5 "$TMP/plain.out") >/dev/null || fail "count-$i output differs"
done
CHECKS=$((CHECKS + 1))
[ -z "$(ls "$TMP" | grep denali-snap)" ] || fail "snapshot files left behind"
finish
