#!/bin/sh
# CLI conventions: --version on denalid and denalictl, denalictl help [VERB], and distinct
# exit codes for "not reachable" (3) and "permission denied" (4), with a message saying so.
# usage: test_cli_conventions.sh DENALICTL DENALID FAKE_DENALID
set -u
ctl=$1
denalid=$2
fake=$3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d /tmp/denali-cliconv-XXXXXX) || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

for prog in "$ctl" "$denalid"; do
	out=$("$prog" --version 2>&1)
	rc=$?
	[ $rc = 0 ] || fail "$prog --version: exit $rc"
	echo "$out" | grep -Eq '^denali(d|ctl) [0-9]+\.[0-9]+\.[0-9]+ \(guest ABI [0-9]+\)$' ||
		fail "$prog --version printed '$out'"
done
"$ctl" help >"$tmp/help" 2>&1 || fail "denalictl help: exit $?"
grep -q "usage: denalictl" "$tmp/help" || fail "denalictl help: no usage"
"$ctl" help stop >"$tmp/hstop" 2>&1 || fail "denalictl help stop: exit $?"
grep -q "usage: denalictl stop" "$tmp/hstop" || fail "denalictl help stop: $(cat "$tmp/hstop")"
# every verb has --help (exit 0, a usage line), the same text as `help VERB`, and is listed
for verb in start stop list stats console jobs events metrics help; do
	"$ctl" "$verb" --help >"$tmp/h.$verb" 2>&1 || fail "denalictl $verb --help: exit $?"
	grep -q "^usage: denalictl" "$tmp/h.$verb" || fail "denalictl $verb --help: $(cat "$tmp/h.$verb")"
	if [ "$verb" != help ]; then
		"$ctl" help "$verb" >"$tmp/hh.$verb" 2>&1
		cmp -s "$tmp/h.$verb" "$tmp/hh.$verb" || fail "help $verb differs from $verb --help"
		grep -q "^  $verb" "$tmp/help" || fail "denalictl help does not list $verb"
	fi
done
for cmd in run serve; do
	"$denalid" "$cmd" --help >"$tmp/d.$cmd" 2>&1 || fail "denalid $cmd --help: exit $?"
	grep -q "^usage: denalid $cmd" "$tmp/d.$cmd" || fail "denalid $cmd --help: $(head -3 "$tmp/d.$cmd")"
done
"$denalid" serve --metrics-vms x >"$tmp/mv" 2>&1
rc=$?
[ $rc = 2 ] || fail "denalid serve --metrics-vms x: exit $rc, expected 2"
# one wording: an unknown option, and a bad VM name with the rule, on every verb that takes one
for verb in start stop list stats console jobs events metrics; do
	"$ctl" --socket "$tmp/none.sock" "$verb" --bogus >"$tmp/bo.$verb" 2>&1
	rc=$?
	[ $rc = 2 ] || fail "denalictl $verb --bogus: exit $rc, expected 2"
	grep -q "^denalictl $verb: unknown option --bogus" "$tmp/bo.$verb" ||
		fail "denalictl $verb --bogus: $(cat "$tmp/bo.$verb")"
done
for verb in stop stats console; do
	"$ctl" --socket "$tmp/none.sock" "$verb" 'b@d' >"$tmp/bn.$verb" 2>&1
	rc=$?
	[ $rc = 2 ] || fail "denalictl $verb b@d: exit $rc, expected 2"
	grep -q "^denalictl $verb: bad name b@d: 1-63 characters of A-Z a-z 0-9 . _ -" "$tmp/bn.$verb" ||
		fail "denalictl $verb b@d: $(cat "$tmp/bn.$verb")"
done
# export NAME FILE and import FILE [NAME]: a bad file is called a file name, a bad VM a name
"$ctl" --socket "$tmp/none.sock" export ok 'b@d' >"$tmp/bf.export" 2>&1
grep -q "^denalictl export: bad file name b@d: 1-63 characters" "$tmp/bf.export" ||
	fail "denalictl export ok b@d: $(cat "$tmp/bf.export")"
"$ctl" --socket "$tmp/none.sock" import 'b@d' >"$tmp/bf.import" 2>&1
grep -q "^denalictl import: bad file name b@d: 1-63 characters" "$tmp/bf.import" ||
	fail "denalictl import b@d: $(cat "$tmp/bf.import")"
"$ctl" --socket "$tmp/none.sock" import f 'b@d' >"$tmp/bn.import" 2>&1
grep -q "^denalictl import: bad name b@d: 1-63 characters" "$tmp/bn.import" ||
	fail "denalictl import f b@d: $(cat "$tmp/bn.import")"
"$ctl" --socket "$tmp/none.sock" start 'b@d' /bin/true >"$tmp/bn.start" 2>&1
grep -q "^denalictl start: bad name b@d: 1-63 characters" "$tmp/bn.start" ||
	fail "denalictl start b@d: $(cat "$tmp/bn.start")"
"$ctl" help nosuchverb >"$tmp/hbad" 2>&1
rc=$?
[ $rc = 2 ] || fail "denalictl help nosuchverb: exit $rc, expected 2"
grep -q "^denalictl: unknown verb nosuchverb" "$tmp/hbad" || fail "help nosuchverb: $(cat "$tmp/hbad")"

# not reachable: 3
"$ctl" --socket "$tmp/none.sock" list >"$tmp/unr" 2>&1
rc=$?
[ $rc = 3 ] || fail "no daemon: exit $rc, expected 3"
grep -q "cannot reach denalid" "$tmp/unr" || fail "no daemon: $(cat "$tmp/unr")"

# permission denied: 4
chmod 0755 "$tmp"
"$fake" --socket "$tmp/s.sock" --state-dir "$tmp/st" >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "ready" "$tmp/log" 2>/dev/null && break; sleep 0.1; done
if [ "$(id -u)" -eq 0 ]; then
	if ! command -v setpriv >/dev/null 2>&1; then
		echo "SKIP: root and no setpriv to try the socket as another user"
		exit 77
	fi
	setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" --socket "$tmp/s.sock" list \
		>"$tmp/den" 2>&1
	rc=$?
else
	chmod 0 "$tmp/s.sock"
	"$ctl" --socket "$tmp/s.sock" list >"$tmp/den" 2>&1
	rc=$?
fi
[ $rc = 4 ] || fail "permission denied: exit $rc, expected 4 ($(cat "$tmp/den"))"
grep -q "^denalictl: permission denied on $tmp/s.sock" "$tmp/den" || fail "permission denied: $(cat "$tmp/den")"
[ $fails = 0 ] && echo "PASS: CLI conventions"
[ $fails = 0 ]
