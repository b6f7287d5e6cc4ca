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
# 198.18.81.0/24 (veth). Human figures, then one JSON line.
# Env: RUNS (3), DURATION (5s), CONNS (10).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-10}
DENALID=$BUILD/bin/denalid
GUESTS=$BUILD/guests

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, a tap)" >&2; exit 1; }
for p in wrk nginx ip awk; do
	command -v "$p" >/dev/null || { echo "bench: $p is missing" >&2; exit 1; }
done
"$DENALID" run --help 2>&1 | grep -q -- '--tap NAME' ||
	{ echo "bench: denalid run has no --tap (the host devices are not built)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/denali-http-bench.XXXXXX)
chmod 755 "$TMP"
NS=denali-httpb-$$
NS2=denali-httpn-$$
TAP=hbt$$
DPID=
cleanup() {
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
	local exits frames reqs
	exits=$(grep "^vm httpd" "$TMP/vm.err" | tr ' ' '\n' | sed -n 's/^exits=//p' | head -1)
	frames=$(grep "^vm httpd" "$TMP/vm.err" | tr ' ' '\n' | awk -F= '$1 == "tx_frames" || $1 == "rx_frames" { s += $2 } END { print s + 0 }')
	reqs=$(sed -n 's/.*served [0-9]* connections, \([0-9]*\) requests.*/\1/p' "$TMP/vm.out")
	echo "${exits:-0} ${frames:-0} ${reqs:-0}" >"$2.counters"
}

json="{\"bench\":\"http\",\"conns\":$CONNS,\"duration\":\"$DURATION\",\"runs\":$RUNS"
for obj in small.html page.html; do
	size=$(stat -c %s "$TMP/site/$obj")
	: >"$TMP/vm.rps"; : >"$TMP/ng.rps"; : >"$TMP/vm.p50"; : >"$TMP/vm.p99"; : >"$TMP/ng.p50"
	: >"$TMP/ng.p99"; : >"$TMP/epr"; : >"$TMP/fpe"
	for r in $(seq "$RUNS"); do
		vm_run "$obj" "$TMP/vm.$r"
		wrk_run "http://198.18.81.2/$obj" "$TMP/ng.$r"
		rps "$TMP/vm.$r" >>"$TMP/vm.rps"
		rps "$TMP/ng.$r" >>"$TMP/ng.rps"
		pct "$TMP/vm.$r" 50% >>"$TMP/vm.p50"
		pct "$TMP/vm.$r" 99% >>"$TMP/vm.p99"
		pct "$TMP/ng.$r" 50% >>"$TMP/ng.p50"
		pct "$TMP/ng.$r" 99% >>"$TMP/ng.p99"
		read -r ex fr rq <"$TMP/vm.$r.counters"
		awk -v e="$ex" -v q="$rq" 'BEGIN { print (q > 0) ? e / q : 0 }' >>"$TMP/epr"
		awk -v e="$ex" -v f="$fr" 'BEGIN { print (e > 0) ? f / e : 0 }' >>"$TMP/fpe"
	done
	vr=$(median <"$TMP/vm.rps"); nr=$(median <"$TMP/ng.rps")
	v50=$(median <"$TMP/vm.p50"); v99=$(median <"$TMP/vm.p99")
	n50=$(median <"$TMP/ng.p50"); n99=$(median <"$TMP/ng.p99")
	epr=$(median <"$TMP/epr"); fpe=$(median <"$TMP/fpe")
	ratio=$(awk -v a="$vr" -v b="$nr" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
	printf '%-5s B  httpd VM %9.0f req/s (p50 %6.0f us, p99 %7.0f us)   nginx %9.0f req/s (p50 %6.0f us, p99 %7.0f us)   VM/nginx %s\n' \
		"$size" "$vr" "$v50" "$v99" "$nr" "$n50" "$n99" "$ratio"
	printf '         VM exits per request %.3f, frames per exit %.2f (medians of %d runs)\n' "$epr" "$fpe" "$RUNS"
	json+=",\"b$size\":{\"vm_rps\":$vr,\"vm_p50_us\":$v50,\"vm_p99_us\":$v99,\"nginx_rps\":$nr,\"nginx_p50_us\":$n50,\"nginx_p99_us\":$n99,\"ratio\":$ratio,\"exits_per_req\":$epr,\"frames_per_exit\":$fpe}"
done
echo "$json}"
