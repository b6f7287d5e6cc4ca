#!/usr/bin/env bash
# A hostile local client of the control socket.
#  - Start requests that arrive together each hold their image until their job ends: 30
#    clients each starting one VM from a 60 MiB image made the daemon hold 1.8 GB (a thousand
#    would hold 60 GB). The images held are bounded: the daemon's peak RSS stays under
#    600 MiB, every refusal says why, and the daemon goes on serving.
#  - A guest's console escape sequences never reach the terminal of denalictl console.
#  - A guest's idle deadline at the far end of the clock neither wakes it nor stops its stop.
. "$(dirname "$0")/lib.sh"
require_kvm
trap daemons_cleanup EXIT

daemon_start a --workers 1
S="--socket $TMP/a.sock"
cp "$GUESTS/sleeper" "$TMP/big.elf" && truncate -s 60M "$TMP/big.elf" # sparse: no disk used
python3 - "$TMP/a.sock" "$TMP/big.elf" 30 >"$TMP/big.out" 2>&1 <<'PY'
import json, socket, sys
path, img, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    conns.append(s)
for i, s in enumerate(conns):
    req = {"op": "start", "name": "big%d" % i, "image": img, "mem": "2M", "args": ["1", "1"]}
    s.sendall((json.dumps(req) + "\n").encode())
for s in conns:
    s.settimeout(120)
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            break
        buf += d
    r = json.loads(buf)
    print("ok" if r["ok"] else "refused: " + r["error"])
PY
CHECKS=$((CHECKS + 1))
[ "$(grep -c . "$TMP/big.out")" = 30 ] || { fail "not every client got a reply"; cat "$TMP/big.out"; }
CHECKS=$((CHECKS + 1))
grep -q '^ok$' "$TMP/big.out" || { fail "no start succeeded"; cat "$TMP/big.out"; }
CHECKS=$((CHECKS + 1))
if grep -v '^ok$' "$TMP/big.out" | grep -qv "hold .* MiB of images"; then
	fail "a refusal without the reason:"
	grep -v '^ok$' "$TMP/big.out" | head -3
fi
HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$DPID/status")
CHECKS=$((CHECKS + 1))
[ "$HWM" -lt $((600 * 1024)) ] || fail "daemon peak RSS $HWM KiB for 30 starts of a 60 MiB image"
echo "peak RSS $HWM KiB; $(grep -c '^ok$' "$TMP/big.out") of 30 started"
timeout 10 "$CTL" $S list >/dev/null
expect_status list-after 0 "$?"

# A guest idling until DENALI_NO_DEADLINE - 1 (584 years): it sleeps without waking (its two
# exits, the console kick and the idle, stay two), and stop still ends it.
"$CTL" $S start far "$GUESTS/hostile-hcarg" --mem 2M -- far >/dev/null
expect_status far-start 0 "$?"
far=
for _ in $(seq 300); do # hang guard 30 s
	"$CTL" $S list --json >"$TMP/far.json" 2>/dev/null &&
		far=$(json "$TMP/far.json" "[(v['state'], v['exits']) for v in d if v['name'] == 'far']")
	[ "$far" = "[('idle', 2)]" ] && break
	sleep 0.1
done
CHECKS=$((CHECKS + 1))
[ "$far" = "[('idle', 2)]" ] || fail "far deadline: $far, not idle after 2 exits"
sleep 1
"$CTL" $S list --json >"$TMP/far.json"
CHECKS=$((CHECKS + 1))
far=$(json "$TMP/far.json" "[(v['state'], v['exits']) for v in d if v['name'] == 'far']")
[ "$far" = "[('idle', 2)]" ] || fail "far deadline: woke or ran again: $far"
timeout 30 "$CTL" $S stop far >/dev/null
expect_status far-stop 0 "$?"
# denalictl console on a terminal shows a guest's text, not its escape sequences.
"$CTL" $S start term "$GUESTS/hostile-termesc" --mem 2M >/dev/null
for _ in $(seq 300); do # hang guard 30 s
	"$CTL" $S list | grep -q '^term .*exited' && break
	sleep 0.1
done
on_tty "$TMP/term.tty" "$CTL" $S console term
expect_term_safe console-tty "$TMP/term.tty"
expect_in console-tty "$TMP/term.tty" "termesc: ?]0;owned??]52;c;"
expect_in console-tty "$TMP/term.tty" "done é ✓"
"$CTL" $S console term >"$TMP/term.raw"
expect_in console-raw "$TMP/term.raw" "$(printf 'termesc: \033]0;owned\007')"
# A NUL the guest printed (\u0000 in the reply) neither breaks the client nor hides the rest.
"$CTL" $S start nul "$GUESTS/hostile-termesc" --mem 2M -- nul >/dev/null
for _ in $(seq 300); do # hang guard 30 s
	"$CTL" $S list | grep -q '^nul .*exited' && break
	sleep 0.1
done
"$CTL" $S console nul >"$TMP/nul.raw" 2>"$TMP/nul.err"
expect_status console-nul 0 "$?"
expect_in console-nul "$TMP/nul.raw" "after the nul"
CHECKS=$((CHECKS + 1))
[ "$(head -c 9 "$TMP/nul.raw" | od -An -c | tr -s ' ')" = " n u l : a \0 b \n" ] ||
	fail "console-nul: the NUL did not come through: $(od -c "$TMP/nul.raw" | head -2)"
daemon_stop "$DPID"
expect_status a-sigterm 0 "$?"
finish
