#!/usr/bin/env bash
# bench/load/bench.sh - denali-load against wrk, in the same invocation, on this machine.
#
#   bench/load/bench.sh [BUILD_DIR]        (default: build; needs nginx, wrk; root for the netns)
#
# 1. Peak: a one-worker nginx on loopback serves a 2,258-byte object. wrk (-t1 -c64) and
#    denali-load (closed loop, 64 connections; then open loop offered 1.1x wrk's rate) take turns,
#    RUNS times each; medians and ratios are printed. nginx and the clients are pinned to
#    different cores when there are two.
# 2. Scale: denali-load spreads Zipf(1.0) traffic over 10,000 targets (10,000 addresses of
#    198.18.0.0/15 in a network namespace of its own, or of 127.78.0.0/16 without root) with at
#    most one connection per target, and reports how many sockets it used.
# Human figures first, one JSON line last. Env: RUNS (3), DURATION (5s), SCALE_TARGETS (10000).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
LOAD=$BUILD/bin/denali-load
RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}
SCALE_TARGETS=${SCALE_TARGETS:-10000}
OBJECT_BYTES=2258
CONNS=64

for p in nginx wrk taskset awk; do
	command -v "$p" >/dev/null || { echo "bench: $p is missing" >&2; exit 1; }
done
[ -x "$LOAD" ] || { echo "bench: $LOAD not built (cmake --build build)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/denali-load-bench.XXXXXX)
chmod 755 "$TMP"
NS=
stop_nginx() {
	local pidf=$1 pid
	[ -s "$pidf" ] || return 0
	pid=$(cat "$pidf")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$pidf"
}
cleanup() {
	stop_nginx "$TMP/peak/nginx.pid"
	stop_nginx "$TMP/scale/nginx.pid"
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

jget() { tail -n 1 "$2" | sed -n 's/.*"'"$1"'":\([-0-9.eE+]*\).*/\1/p'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# nginx_conf DIR LISTEN CONNS: a one-worker nginx with its own pid file, logs and temp dirs
nginx_conf() {
	mkdir -p "$1/tmp"
	cat >"$1/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 30000;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections $3; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $1/tmp; proxy_temp_path $1/tmp; fastcgi_temp_path $1/tmp;
  uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
  server { listen $2 backlog=16384; root $TMP/www; }
}
CONF
}

mkdir -p "$TMP/www" "$TMP/peak" "$TMP/scale"
head -c "$OBJECT_BYTES" /dev/zero | tr '\0' 'x' >"$TMP/www/obj.html"
chmod -R a+rX "$TMP/www"

SERVER_CPU=()
CLIENT_CPU=()
if [ "$(nproc)" -ge 2 ]; then
	SERVER_CPU=(taskset -c 0)
	CLIENT_CPU=(taskset -c 1)
fi
PORT=$((30000 + $$ % 20000))
nginx_conf "$TMP/peak" "127.0.0.1:$PORT" 4096
"${SERVER_CPU[@]}" nginx -c "$TMP/peak/nginx.conf" -e "$TMP/peak/error.log"
URL="http://127.0.0.1:$PORT/obj.html"
for _ in $(seq 50); do [ -s "$TMP/peak/nginx.pid" ] && break; sleep 0.1; done
echo "peak: one-worker nginx on 127.0.0.1:$PORT, ${OBJECT_BYTES}-byte object, $RUNS runs of $DURATION," \
	"$CONNS connections, $(nproc) cores (server ${SERVER_CPU[*]:-unpinned}, clients ${CLIENT_CPU[*]:-unpinned})"

: >"$TMP/wrk.txt"
: >"$TMP/dl.txt"
: >"$TMP/cpu.txt"
for i in $(seq "$RUNS"); do
	w=$("${CLIENT_CPU[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" "$URL" | awk '/^Requests\/sec/ { print $2 }')
	"${CLIENT_CPU[@]}" "$LOAD" -t "127.0.0.1:$PORT/obj.html" --closed -c "$CONNS" -C "$CONNS" \
		--conns-per-target "$CONNS" -d "$DURATION" -w 1s -q >"$TMP/dl.json"
	d=$(jget throughput "$TMP/dl.json")
	cpu=$(awk -v c="$(jget cpu_s "$TMP/dl.json")" -v w="$(jget wall_s "$TMP/dl.json")" 'BEGIN { printf "%.2f", c / w }')
	echo "$w" >>"$TMP/wrk.txt"
	echo "$d" >>"$TMP/dl.txt"
	echo "$cpu" >>"$TMP/cpu.txt"
	printf '  run %d: wrk %9.1f req/s   denali-load (closed) %9.1f req/s, %.2f core   ratio %.3f\n' \
		"$i" "$w" "$d" "$cpu" "$(awk -v a="$d" -v b="$w" 'BEGIN { print a / b }')"
done
WRK=$(median <"$TMP/wrk.txt")
DL=$(median <"$TMP/dl.txt")
CPU=$(median <"$TMP/cpu.txt")
RATIO=$(awk -v a="$DL" -v b="$WRK" 'BEGIN { printf "%.3f", a / b }')

# Open loop offered well past the peak: the rate it actually sustains
OFFER=$(awk -v w="$WRK" 'BEGIN { printf "%.0f", w * 1.1 }')
: >"$TMP/open.txt"
: >"$TMP/offered.txt"
for i in $(seq "$RUNS"); do
	"${CLIENT_CPU[@]}" "$LOAD" -t "127.0.0.1:$PORT/obj.html" -r "$OFFER" -C "$CONNS" \
		--conns-per-target "$CONNS" -d "$DURATION" -w 1s -q >"$TMP/open.json"
	jget throughput "$TMP/open.json" >>"$TMP/open.txt"
	jget offered "$TMP/open.json" >>"$TMP/offered.txt"
done
OPEN=$(median <"$TMP/open.txt")
# what was really offered in the measured window (Poisson arrivals: near OFFER, not exactly)
OFFERED=$(median <"$TMP/offered.txt")
ORATIO=$(awk -v a="$OPEN" -v b="$WRK" 'BEGIN { printf "%.3f", a / b }')
stop_nginx "$TMP/peak/nginx.pid"
echo "peak: medians: wrk $WRK req/s; denali-load closed loop $DL req/s (ratio $RATIO, $CPU core);" \
	"open loop asked $OFFER req/s, offered $OFFERED req/s in the window, sustained $OPEN req/s (ratio $ORATIO)"

# Scale: 10,000 targets
RUN=()
if [ "$(id -u)" = 0 ] && ip netns add "denali-bench-$$" 2>/dev/null; then
	NS="denali-bench-$$"
	RUN=(ip netns exec "$NS")
	"${RUN[@]}" ip link set lo up
	"${RUN[@]}" ip route add local 198.18.0.0/15 dev lo
	# a burst of first connections to 10,000 hosts must not overflow the accept queue
	"${RUN[@]}" sysctl -q -w net.core.somaxconn=16384 net.ipv4.tcp_max_syn_backlog=16384 || true
	PREFIX=198.18.0.0/15
	SPORT=80
	WHERE="network namespace $NS"
else
	PREFIX=127.78.0.0/16
	SPORT=$((PORT + 1))
	WHERE="loopback"
fi
nginx_conf "$TMP/scale" "$SPORT" $((SCALE_TARGETS + 1024))
"${RUN[@]}" "${SERVER_CPU[@]}" nginx -c "$TMP/scale/nginx.conf" -e "$TMP/scale/error.log"
for _ in $(seq 50); do [ -s "$TMP/scale/nginx.pid" ] && break; sleep 0.1; done
"${RUN[@]}" "${CLIENT_CPU[@]}" "$LOAD" --prefix "$PREFIX" --hosts "$SCALE_TARGETS" --port "$SPORT" \
	--path /obj.html -a 1.0 -r 10000 -d "$DURATION" -w 2s -C "$SCALE_TARGETS" >"$TMP/scale.out"
stop_nginx "$TMP/scale/nginx.pid"
echo "scale: $SCALE_TARGETS targets from $PREFIX in $WHERE, zipf 1.0, 10000 req/s:"
sed -n '1,5p' "$TMP/scale.out"
# used: targets of measured requests; touched: with the warm-up's (sockets are opened for both)
S_USED=$(jget targets_used "$TMP/scale.out")
S_TOUCHED=$(jget targets_touched "$TMP/scale.out")
S_OPENED=$(jget conns_opened "$TMP/scale.out")
S_PEAK=$(jget conns_peak "$TMP/scale.out")
S_PER=$(jget per_target_peak "$TMP/scale.out")
S_FAIL=$(jget failures "$TMP/scale.out")
S_TPUT=$(jget throughput "$TMP/scale.out")
S_P99=$(jget p99_ms "$TMP/scale.out")
# every socket went to a distinct target: no more sockets than targets touched
S_OK=$(awk -v o="$S_OPENED" -v u="$S_TOUCHED" -v p="$S_PER" -v f="$S_FAIL" \
	'BEGIN { print ((p <= 1 && o <= u && f == 0) ? "true" : "false") }')
echo "scale: $S_USED targets used in the window ($S_TOUCHED with the warm-up), $S_OPENED sockets opened (peak $S_PEAK open, at most $S_PER per target)," \
	"$S_FAIL failed, p99 $S_P99 ms"

MEETS=$(awk -v r="$RATIO" 'BEGIN { print ((r >= 0.9) ? "true" : "false") }')
# "within 20%": denali-load at most 20% below wrk (faster is no shortfall)
WITHIN=$(awk -v r="$RATIO" 'BEGIN { print ((r >= 0.8) ? "true" : "false") }')
echo "result: denali-load/wrk = $RATIO (target >= 0.9: $MEETS; within 20%: $WITHIN); 10k targets ok: $S_OK"
printf '{"bench":"denali-load","object_bytes":%d,"runs":%d,"duration":"%s","connections":%d,' \
	"$OBJECT_BYTES" "$RUNS" "$DURATION" "$CONNS"
printf '"wrk_rps":%s,"denali_closed_rps":%s,"ratio":%s,"denali_cpu_cores":%s,' "$WRK" "$DL" "$RATIO" "$CPU"
printf '"open_offered_rps":%s,"open_offered_window_rps":%s,"open_sustained_rps":%s,"open_ratio":%s,' \
	"$OFFER" "$OFFERED" "$OPEN" "$ORATIO"
printf '"meets_0_9":%s,"within_20pct":%s,' "$MEETS" "$WITHIN"
printf '"scale_targets":%d,"scale_targets_used":%s,"scale_targets_touched":%s,"scale_sockets_opened":%s,"scale_per_target_peak":%s,' \
	"$SCALE_TARGETS" "$S_USED" "$S_TOUCHED" "$S_OPENED" "$S_PER"
printf '"scale_failures":%s,"scale_throughput":%s,"scale_p99_ms":%s,"scale_ok":%s}\n' \
	"$S_FAIL" "$S_TPUT" "$S_P99" "$S_OK"
