#!/usr/bin/env bash
# Issue 8 items 2 and 4: exits by reason and wake-up lateness per VM (list --json, stats
# --json) and the Prometheus metrics, from `denalictl metrics` and from
# `denalid serve --metrics` over HTTP, scraped with curl inside a network namespace of this
# test's own (loopback only): every line is valid exposition text, counters do not go down
# between scrapes, and hostile HTTP clients (slowloris, a huge header, a flood of
# connections) neither stop scrapes nor stall the control socket.
. "$(dirname "$0")/lib.sh"
require_kvm
LINT="$BIN/metrics_lint"
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: ip (iproute2) is not installed"; exit 77; }
[ -x "$LINT" ] || { echo "SKIP: $LINT not built"; exit 77; }
NS=denali-metrics-$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
cleanup() {
	daemons_cleanup
	ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
ip netns exec "$NS" ip link set lo up
PORT=9464
S="--socket $TMP/m.sock"
# The daemon in the namespace: its listener is on that namespace's loopback only.
ip netns exec "$NS" "$DENALID" serve --socket "$TMP/m.sock" --state-dir "$TMP/m.state" \
	--workers 2 --metrics "127.0.0.1:$PORT" --metrics-vms 3 >"$TMP/m.log" 2>&1 &
DAEMON_PIDS+=("$!")
daemon_wait m || { fail "daemon not answering"; tail -20 "$TMP/m.log"; finish; }
expect_in log "$TMP/m.log" "metrics on http://127.0.0.1:$PORT/metrics"
scrape() { ip netns exec "$NS" curl -sS --max-time 20 -o "$TMP/$1" -w '%{http_code}' "http://127.0.0.1:$PORT/metrics"; }

CHECKS=$((CHECKS + 1))
[ "$(scrape s0)" = 200 ] || fail "first scrape not 200"
"$CTL" $S start sl "$GUESTS/sleeper" --count 2 --mem 4M -- 5 50 >/dev/null
"$CTL" $S start pr "$GUESTS/hostile-priv" --mem 4M >/dev/null
"$CTL" $S start hi "$GUESTS/hello" --mem 4M -- a b >/dev/null
for _ in $(seq 300); do
	"$CTL" $S list --json >"$TMP/l.json"
	[ "$(json "$TMP/l.json" "sum(v['state'] in ('exited', 'killed') for v in d)")" = 4 ] && break
	sleep 0.1
done
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l.json" "sum(v['state'] in ('exited', 'killed') for v in d)")" = 4 ] ||
	fail "VMs did not end: $(cat "$TMP/l.json")"

# --- item 2: exits by reason and wake-up lateness --------------------------------------
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l.json" "all(sum(v['exits_by_reason'].values()) == v['exits'] and v['exits'] > 0 for v in d)")" = True ] ||
	fail "exits_by_reason does not add up to exits: $(json "$TMP/l.json" "[(v['name'], v['exits'], v['exits_by_reason']) for v in d]")"
# The sleeper naps 5 times: 5 deadline wake-ups, each measured.
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l.json" "[v['wakeup_lateness']['count'] for v in d if v['name'].startswith('sl-')]")" = "[5, 5]" ] ||
	fail "sleeper lateness count: $(json "$TMP/l.json" "[v['wakeup_lateness'] for v in d]")"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l.json" "all(v['wakeup_lateness']['p99_us'] >= v['wakeup_lateness']['p50_us'] > 0 for v in d if v['name'].startswith('sl-'))")" = True ] ||
	fail "sleeper lateness quantiles: $(json "$TMP/l.json" "[v['wakeup_lateness'] for v in d]")"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l.json" "[v['exits_by_reason']['io'] >= 6 for v in d if v['name'].startswith('sl-')]")" = "[True, True]" ] ||
	fail "sleeper io exits: $(json "$TMP/l.json" "[v['exits_by_reason'] for v in d]")"
CHECKS=$((CHECKS + 1))
# hostile-priv's hlt ends in a triple fault: one shutdown exit, the exit that killed it.
[ "$(json "$TMP/l.json" "[v['exits_by_reason']['shutdown'] for v in d if v['name'] == 'pr']")" = "[1]" ] ||
	fail "hostile-priv: no shutdown exit: $(json "$TMP/l.json" "[v for v in d if v['name'] == 'pr']")"
"$CTL" $S stats --json >"$TMP/st.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/st.json" "d['wakeup_lateness']['count'] == sum(w['wakeup_lateness']['count'] for w in d['workers']) == d['totals']['counters']['wakeup_lateness']['count'] >= 10")" = True ] ||
	fail "fleet lateness is not the sum of the workers': $(json "$TMP/st.json" "(d['wakeup_lateness'], [w['wakeup_lateness'] for w in d['workers']])")"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/st.json" "sum(d['exits_by_reason'].values()) == d['exits_total']")" = True ] ||
	fail "stats exits_by_reason: $(json "$TMP/st.json" "(d['exits_by_reason'], d['exits_total'])")"
"$CTL" $S stats sl-0 --json >"$TMP/one.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/one.json" "d['counters']['wakeup_lateness']['count']")" = 5 ] ||
	fail "stats NAME lateness: $(cat "$TMP/one.json")"

# --- item 8: every field of list, stats and stats NAME is documented in PROTOCOL.md ----
PROTO="$(dirname "$0")/../../src/ctl/PROTOCOL.md"
# documented FILE...: every key of the JSON in FILE... appears as `key` in PROTOCOL.md
documented() {
	python3 - "$PROTO" "$@" >"$TMP/undoc.out" 2>&1 <<'PY'
import json, sys
doc = open(sys.argv[1]).read()
keys = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            keys.add(k)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for f in sys.argv[2:]:
    walk(json.load(open(f)))
missing = sorted(k for k in keys if "`%s`" % k not in doc)
print("undocumented:", " ".join(missing))
sys.exit(1 if missing else 0)
PY
}
documented "$TMP/l.json" "$TMP/st.json" "$TMP/one.json"
expect_status "every list/stats field in PROTOCOL.md ($(cat "$TMP/undoc.out"))" 0 "$?"

# --- item 4: the exposition, from denalictl and over HTTP ------------------------------
CHECKS=$((CHECKS + 1))
[ "$(scrape s1)" = 200 ] || fail "second scrape not 200"
"$CTL" $S metrics >"$TMP/ctl.txt"
expect_status ctl-metrics 0 "$?"
for f in s0 s1 ctl.txt; do
	"$LINT" "$TMP/$f" >"$TMP/lint.out" 2>&1
	expect_status "lint $f" 0 "$?"
done
"$LINT" "$TMP/s0" "$TMP/s1" >"$TMP/lint.out" 2>&1
expect_status "counters monotonic across scrapes" 0 "$?"
"$LINT" "$TMP/s1" "$TMP/ctl.txt" >"$TMP/lint.out" 2>&1
expect_status "counters monotonic, HTTP then denalictl" 0 "$?"
grep -q . "$TMP/lint.out" && sed 's/^/    | /' "$TMP/lint.out" | head
expect_in s1-started "$TMP/s1" "denali_vms_started_total 4"
expect_in s1-io "$TMP/s1" 'denali_exits_by_reason_total{reason="io"}'
expect_in s1-lateness "$TMP/s1" 'denali_wakeup_lateness_seconds_bucket{le="+Inf"}'
expect_in s1-shown "$TMP/s1" "denali_metrics_vms_shown 3"
expect_in s1-omitted "$TMP/s1" "denali_metrics_vms_omitted 1"
"$CTL" $S metrics --vms 0 >"$TMP/ctl0.txt"
expect_not_in ctl-vms0 "$TMP/ctl0.txt" "denali_vm_cpu_seconds_total"
"$CTL" $S metrics --vms x >/dev/null 2>&1
expect_status "metrics --vms x" 2 "$?"

# --- hostile HTTP clients --------------------------------------------------------------
# Slowloris: 100 connections that send part of a request line and stall, a huge header,
# then a scrape and a control request while they hang on.
ip netns exec "$NS" python3 - "$PORT" >"$TMP/hostile.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(100):
    s = socket.create_connection(("127.0.0.1", port))
    s.send(b"GET /metr")
    held.append(s)
big = socket.create_connection(("127.0.0.1", port))
try:
    big.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 65536 + b"\r\n")
except OSError:
    pass
big.settimeout(20)
print("big:", big.recv(64).split(b"\r\n")[0].decode())
time.sleep(3)
PY
HPID=$!
sleep 1
CHECKS=$((CHECKS + 1))
[ "$(scrape s2)" = 200 ] || fail "scrape during the slowloris not 200"
timeout 10 "$CTL" $S list >/dev/null
expect_status "list during the slowloris" 0 "$?"
wait "$HPID"
expect_in huge-header "$TMP/hostile.out" "big: HTTP/1.1 431"
"$LINT" "$TMP/s1" "$TMP/s2" >"$TMP/lint.out" 2>&1
expect_status "monotonic after the hostile clients" 0 "$?"
expect_in evicted "$TMP/s2" "denali_metrics_http_evicted_total"

# --- with --swap: the swap families render, lint, and the swap fields are documented -----
daemon_start w --workers 1 --swap "$TMP/swap" --swap-files 1 --swap-size 32M --swap-slot 4M \
	--mem-budget 8M
"$CTL" --socket "$TMP/w.sock" start ws "$GUESTS/sleeper" --count 2 --mem 4M -- 3 200 >/dev/null
sleep 0.5
"$CTL" --socket "$TMP/w.sock" metrics >"$TMP/w.txt"
expect_status "metrics with --swap" 0 "$?"
"$LINT" "$TMP/w.txt" >"$TMP/lint.out" 2>&1
expect_status "lint with --swap ($(cat "$TMP/lint.out"))" 0 "$?"
expect_in swap-family "$TMP/w.txt" "denali_swap_vms_resident "
expect_in swap-slots "$TMP/w.txt" "denali_swap_slots "
"$CTL" --socket "$TMP/w.sock" list --json >"$TMP/wl.json"
"$CTL" --socket "$TMP/w.sock" stats --json >"$TMP/wst.json"
documented "$TMP/wl.json" "$TMP/wst.json"
expect_status "every --swap list/stats field in PROTOCOL.md ($(cat "$TMP/undoc.out"))" 0 "$?"
finish
