#!/bin/sh
# The one memory-size rule (include/denali/abi.h, DENALI_MEM_RULE) as both CLIs state it:
# denalictl start --mem and denalid run --mem refuse a size outside it with the same words
# and exit 2 (usage), before any daemon or VM is involved.
# usage: test_mem_rule.sh DENALICTL DENALID
set -u
ctl=$1
denalid=$2
rule="a multiple of 2 MiB from 2 MiB to 4 GiB"
fails=0
tmp=$(mktemp -d /tmp/denali-memrule-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
for size in 3M 1M 8G 0; do
	"$ctl" --socket "$tmp/none.sock" start a /i --mem $size >"$tmp/ctl.out" 2>&1
	rc=$?
	[ $rc = 2 ] || { echo "FAIL: denalictl --mem $size: exit $rc, expected 2"; fails=$((fails + 1)); }
	grep -qF "$rule" "$tmp/ctl.out" || { echo "FAIL: denalictl --mem $size: $(cat "$tmp/ctl.out")"; fails=$((fails + 1)); }
	if [ -x "$denalid" ]; then
		"$denalid" run --mem $size /nonexistent >"$tmp/run.out" 2>&1
		rc=$?
		[ $rc = 2 ] || { echo "FAIL: denalid run --mem $size: exit $rc, expected 2"; fails=$((fails + 1)); }
		grep -qF "$rule" "$tmp/run.out" || { echo "FAIL: denalid run --mem $size: $(cat "$tmp/run.out")"; fails=$((fails + 1)); }
	fi
done
"$ctl" start --help 2>&1 | grep -qF "$rule" || { echo "FAIL: denalictl start --help does not state the rule"; fails=$((fails + 1)); }
[ $fails = 0 ] && echo "PASS: one memory rule, one message"
[ $fails = 0 ]
