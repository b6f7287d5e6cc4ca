#!/usr/bin/env bash
# bench/http/bench.sh: the httpd guest against one-worker nginx, same run.
#
#   bench/http/bench.sh [BUILD_DIR]    (default build; needs root, wrk, nginx, /dev/kvm, a tap)
#
# One network namespace holds the clients (wrk) and a tap: behind the tap,
# one httpd VM (denalid run --net --tap, content on a denali-mkfs disk);
# over a veth pair, a second namespace runs nginx with one worker serving
# the same files. For the 612 B and the 2,258 B object, wrk (-t1, keep-
# alive, CONNS connections, DURATION) measures requests/s and latency
# percentiles against each, RUNS times alternately; medians and the ratio
# VM/nginx are printed. Each VM run boots a fresh denalid whose httpd exits
# after the run's connections, so its exit and frame counters give VM exits
# per request and frames per exit. Addresses: 198.18.80.0/24 (tap) and
# 198.18.81.0/24 (veth).
#
# Then the idle phase: IDLE_CONNS keep-alive connections (idle_client.py)
# each get the small object once and stay open and silent; over IDLE_S
# seconds of that, the VM's exits (kvm:kvm_userspace_exit of its worker
# thread, perf stat) and the CPU time of the whole denalid process and of
# its worker (schedstat) are measured, beside nginx's CPU over the same
# idle window with the same connections; afterwards every connection must
# still answer. Human figures, then one JSON line.
# Env: RUNS (3), DURATION (5s), CONNS (connection counts, each measured as above:
# "10 50"; the JSON's b612/b2258 are the first, b612_cN/b2258_cN every one),
# IDLE_CONNS (100), IDLE_S (10; 0 skips it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}
CONNS_LIST=${CONNS:-10 50}
IDLE_CONNS=${IDLE_CONNS:-100}
IDLE_S=${IDLE_S:-10}
DENALID=$BUILD/bin/denalid
GUESTS=$BUILD/guests

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, a tap)" >&2; exit 1; }
for p in wrk nginx ip awk python3 perf; do
	command -v "$p" >/dev/null || { echo "bench: $p is missing" >&2; exit 1; }
done
grep -q -- '--tap NAME' <<<"$("$DENALID" run --help 2>&1)" ||
	{ echo "bench: denalid run has no --tap (the host devices are not built)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/denali-http-bench.XXXXXX)
chmod 755 "$TMP"
NS=denali-httpb-$$
NS2=denali-httpn-$$
TAP=hbt$$
DPID=
CPID=
cleanup() {
	[ -n "$CPID" ] && kill "$CPID" 2>/dev/null
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -s "$TMP/nginx/nginx.pid" ] && kill "$(cat "$TMP/nginx/nginx.pid")" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NS2" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# wrk_to_us "1.23ms" -> microseconds
to_us() { awk '{ v = $1 + 0; if ($1 ~ /us$/) print v; else if ($1 ~ /ms$/) print v * 1000; else print v * 1000000 }'; }

# the content: a 612 B and a 2,258 B object
mkdir -p "$TMP/site"
head -c 612 /dev/urandom | base64 -w 76 | head -c 612 >"$TMP/site/small.html"
head -c 2258 /dev/urandom | base64 -w 76 | head -c 2258 >"$TMP/site/page.html"
chmod -R a+rX "$TMP/site"
"$BUILD/bin/denali-mkfs" -q "$TMP/site" "$TMP/site.img"

ip netns add "$NS"
ip netns add "$NS2"
ip -n "$NS" link set lo up
ip -n "$NS2" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" addr add 198.18.80.1/24 dev "$TAP"
ip -n "$NS" link set "$TAP" up
ip -n "$NS" link add hbv0 type veth peer name hbv1 netns "$NS2"
ip -n "$NS" addr add 198.18.81.1/24 dev hbv0
ip -n "$NS2" addr add 198.18.81.2/24 dev hbv1
ip -n "$NS" link set hbv0 up
ip -n "$NS2" link set hbv1 up

mkdir -p "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/tmp;
	proxy_temp_path $TMP/nginx/tmp;
	fastcgi_temp_path $TMP/nginx/tmp;
	uwsgi_temp_path $TMP/nginx/tmp;
	scgi_temp_path $TMP/nginx/tmp;
	keepalive_requests 1000000;
	server { listen 198.18.81.2:80; root $TMP/site; }
}
CONF
ip netns exec "$NS2" nginx -c "$TMP/nginx/nginx.conf"

# wrk_run URL OUT: one wrk run, its output in OUT
wrk_run() { ip netns exec "$NS" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$1" >"$2" 2>&1; }
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
pct() { awk -v p="$2" '$1 == p { print $2 }' "$1" | to_us; }

# vm_run OBJECT OUT: a fresh VM serves one wrk run and exits after its connections
vm_run() {
	ip netns exec "$NS" "$DENALID" run --net 198.18.80.0/24 --tap "$TAP" --disk-ro "$TMP/site.img" \
		"$GUESTS/httpd" -- 80 128 10000 "$CONNS" >"$TMP/vm.out" 2>"$TMP/vm.err" &
	DPID=$!
	for _ in $(seq 100); do
		grep -q "listening on port 80" "$TMP/vm.out" 2>/dev/null && break
		sleep 0.1
	done
	wrk_run "http://198.18.80.2/$1" "$2"
	wait "$DPID" || true
	DPID=
	local exits runs frames reqs
	exits=$(grep "^vm httpd" "$TMP/vm.err" | tr ' ' '\n' | sed -n 's/^exits=//p' | head -1)
	runs=$(grep "^vm httpd" "$TMP/vm.err" | tr ' ' '\n' | sed -n 's/^runs=//p' | head -1)
	frames=$(grep "^vm httpd" "$TMP/vm.err" | tr ' ' '\n' | awk -F= '$1 == "tx_frames" || $1 == "rx_frames" { s += $2 } END { print s + 0 }')
	reqs=$(sed -n 's/.*served [0-9]* connections, \([0-9]*\) requests.*/\1/p' "$TMP/vm.out")
	echo "${exits:-0} ${frames:-0} ${reqs:-0} ${runs:-0}" >"$2.counters"
}

load0=$(cut -d' ' -f1 /proc/loadavg)
echo "bench/http: $RUNS runs of $DURATION per side and object, connections: $CONNS_LIST; $(uptime)"
first=${CONNS_LIST%% *}
json="{\"bench\":\"http\",\"conns\":$first,\"conns_list\":\"$CONNS_LIST\",\"duration\":\"$DURATION\",\"runs\":$RUNS,\"load_start\":$load0"
for CONNS in $CONNS_LIST; do
echo "--- $CONNS connections; $(uptime)"
for obj in small.html page.html; do
	size=$(stat -c %s "$TMP/site/$obj")
	: >"$TMP/vm.rps"; : >"$TMP/ng.rps"; : >"$TMP/vm.p50"; : >"$TMP/vm.p99"; : >"$TMP/ng.p50"
	: >"$TMP/ng.p99"; : >"$TMP/epr"; : >"$TMP/fpe"; : >"$TMP/rpr"
	for r in $(seq "$RUNS"); do
		vm_run "$obj" "$TMP/vm.$r"
		wrk_run "http://198.18.81.2/$obj" "$TMP/ng.$r"
		rps "$TMP/vm.$r" >>"$TMP/vm.rps"
		rps "$TMP/ng.$r" >>"$TMP/ng.rps"
		pct "$TMP/vm.$r" 50% >>"$TMP/vm.p50"
		pct "$TMP/vm.$r" 99% >>"$TMP/vm.p99"
		pct "$TMP/ng.$r" 50% >>"$TMP/ng.p50"
		pct "$TMP/ng.$r" 99% >>"$TMP/ng.p99"
		read -r ex fr rq ru <"$TMP/vm.$r.counters"
		awk -v e="$ru" -v q="$rq" 'BEGIN { print (q > 0) ? e / q : 0 }' >>"$TMP/rpr"
		awk -v e="$ex" -v q="$rq" 'BEGIN { print (q > 0) ? e / q : 0 }' >>"$TMP/epr"
		awk -v e="$ex" -v f="$fr" 'BEGIN { print (e > 0) ? f / e : 0 }' >>"$TMP/fpe"
	done
	vr=$(median <"$TMP/vm.rps"); nr=$(median <"$TMP/ng.rps")
	v50=$(median <"$TMP/vm.p50"); v99=$(median <"$TMP/vm.p99")
	n50=$(median <"$TMP/ng.p50"); n99=$(median <"$TMP/ng.p99")
	epr=$(median <"$TMP/epr"); fpe=$(median <"$TMP/fpe"); rpr=$(median <"$TMP/rpr")
	ratio=$(awk -v a="$vr" -v b="$nr" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
	printf '%-5s B  httpd VM %9.0f req/s (p50 %6.0f us, p99 %7.0f us)   nginx %9.0f req/s (p50 %6.0f us, p99 %7.0f us)   VM/nginx %s\n' \
		"$size" "$vr" "$v50" "$v99" "$nr" "$n50" "$n99" "$ratio"
	printf '         VM exits per request %.3f (KVM_RUN calls per request %.3f: signals too), frames per exit %.2f (medians of %d runs)\n' \
		"$epr" "$rpr" "$fpe" "$RUNS"
	fig="{\"conns\":$CONNS,\"vm_rps\":$vr,\"vm_p50_us\":$v50,\"vm_p99_us\":$v99,\"nginx_rps\":$nr,\"nginx_p50_us\":$n50,\"nginx_p99_us\":$n99,\"ratio\":$ratio,\"exits_per_req\":$epr,\"runs_per_req\":$rpr,\"frames_per_exit\":$fpe,\"load\":$(cut -d' ' -f1 /proc/loadavg)}"
	[ "$CONNS" = "$first" ] && json+=",\"b$size\":$fig"
	json+=",\"b${size}_c$CONNS\":$fig"
done
done
# ---- idle phase --------------------------------------------------------------
# cpu_ns PID: CPU time of every thread of PID so far (schedstat), ns
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'; }
# tcpu_ns PID TID: CPU time of one thread so far, ns
tcpu_ns() { awk '{ print $1 }' /proc/"$1"/task/"$2"/schedstat; }
# idle_window PID [TID]: over IDLE_S s, "<cpu ns of PID> <cpu ns of TID> <userspace exits of TID>"
idle_window() {
	local c0 w0=0 c1 w1=0 ex=0
	c0=$(cpu_ns "$1")
	[ -n "${2:-}" ] && w0=$(tcpu_ns "$1" "$2")
	if [ -n "${2:-}" ]; then
		ex=$(perf stat -x, -e kvm:kvm_userspace_exit -t "$2" -- sleep "$IDLE_S" 2>&1 >/dev/null |
			awk -F, '/kvm_userspace_exit/ { print $1 + 0 }')
	else
		sleep "$IDLE_S"
	fi
	c1=$(cpu_ns "$1")
	[ -n "${2:-}" ] && w1=$(tcpu_ns "$1" "$2")
	echo "$((c1 - c0)) $((w1 - w0)) ${ex:-0}"
}
# idle_client ADDR OUT: the client, in the background; waits for "ready"
idle_client() {
	ip netns exec "$NS" python3 "$ROOT/bench/http/idle_client.py" "$1" 80 /small.html \
		"$IDLE_CONNS" "$((IDLE_S + 2))" >"$2" 2>&1 &
	CPID=$!
	for _ in $(seq 300); do
		grep -q '^ready' "$2" 2>/dev/null && return 0
		kill -0 "$CPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: the idle client did not get ready:" >&2
	cat "$2" >&2
	return 1
}
ms() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e6 }'; }
if [ "$IDLE_S" -gt 0 ]; then
	ip netns exec "$NS" "$DENALID" run --net 198.18.80.0/24 --tap "$TAP" --disk-ro "$TMP/site.img" \
		"$GUESTS/httpd" -- 80 128 10000 "$IDLE_CONNS" >"$TMP/vm.out" 2>"$TMP/vm.err" &
	DPID=$!
	for _ in $(seq 100); do
		grep -q "listening on port 80" "$TMP/vm.out" 2>/dev/null && break
		sleep 0.1
	done
	wtid=$(grep -l '^denali-w0$' /proc/"$DPID"/task/*/comm | head -1 | cut -d/ -f5)
	idle_client 198.18.80.2 "$TMP/idle.vm"
	sleep 0.5 # the last ACKs
	read -r vcpu wcpu vex < <(idle_window "$DPID" "$wtid")
	wait "$CPID" && vok=1 || vok=0
	CPID=
	wait "$DPID" || true
	DPID=
	ngpid=$(cat "$TMP/nginx/nginx.pid")
	ngw=$(pgrep -P "$ngpid" | head -1)
	idle_client 198.18.81.2 "$TMP/idle.ng"
	sleep 0.5
	read -r ncpu _ _ < <(idle_window "${ngw:-$ngpid}")
	wait "$CPID" && nok=1 || nok=0
	CPID=
	printf 'idle: %d keep-alive connections open and silent for %d s:\n' "$IDLE_CONNS" "$IDLE_S"
	printf '      httpd VM %d exits, denalid %s ms CPU (its worker %s ms); nginx worker %s ms CPU\n' \
		"$vex" "$(ms "$vcpu")" "$(ms "$wcpu")" "$(ms "$ncpu")"
	printf '      every connection answered afterwards: VM %s, nginx %s\n' \
		"$([ $vok = 1 ] && echo yes || echo NO)" "$([ $nok = 1 ] && echo yes || echo NO)"
	json+=",\"idle\":{\"conns\":$IDLE_CONNS,\"seconds\":$IDLE_S,\"vm_exits\":$vex,\"vm_cpu_ns\":$vcpu,\"vm_worker_cpu_ns\":$wcpu,\"nginx_cpu_ns\":$ncpu,\"vm_ok\":$vok,\"nginx_ok\":$nok}"
fi
echo "bench/http: done; $(uptime)"
echo "$json,\"load_end\":$(cut -d' ' -f1 /proc/loadavg)}"
