#!/usr/bin/env bash
# bench/load/series.sh - a series of runs over a growing number of services, and its plots.
#
#   bench/load/series.sh OUTDIR [BUILD_DIR]     (env: SERVICES="1 10 100 1000 10000",
#                                                RATE=10000, DURATION=5s, ALPHA=1.0)
#
# Until guests serve HTTP the services are one nginx answering on N addresses (198.18.0.0/15
# in a network namespace of its own as root, else 127.79.0.0/16 on loopback); later point
# --prefix at the guests. Writes OUTDIR/series.tsv, OUTDIR/cdf-N.txt and three PNGs:
# throughput.png, latency.png, cdf.png.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: series.sh OUTDIR [BUILD_DIR]}
BUILD=${2:-$HERE/../../build}
LOAD=$BUILD/bin/denali-load
SERVICES=${SERVICES:-1 10 100 1000 10000}
RATE=${RATE:-10000}
DURATION=${DURATION:-5s}
ALPHA=${ALPHA:-1.0}
for p in nginx gnuplot; do
	command -v "$p" >/dev/null || { echo "series: $p is missing" >&2; exit 1; }
done
[ -x "$LOAD" ] || { echo "series: $LOAD not built" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

TMP=$(mktemp -d /tmp/denali-load-series.XXXXXX)
chmod 755 "$TMP"
NS=
cleanup() {
	if [ -s "$TMP/nginx.pid" ]; then
		pid=$(cat "$TMP/nginx.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

RUN=()
if [ "$(id -u)" = 0 ] && ip netns add "denali-series-$$" 2>/dev/null; then
	NS="denali-series-$$"
	RUN=(ip netns exec "$NS")
	"${RUN[@]}" ip link set lo up
	"${RUN[@]}" ip route add local 198.18.0.0/15 dev lo
	"${RUN[@]}" sysctl -q -w net.core.somaxconn=16384 net.ipv4.tcp_max_syn_backlog=16384 || true
	PREFIX=198.18.0.0/15
	PORT=80
else
	PREFIX=127.79.0.0/16
	PORT=$((30000 + $$ % 20000))
fi
mkdir -p "$TMP/www" "$TMP/tmp"
head -c 2258 /dev/zero | tr '\0' 'x' >"$TMP/www/obj.html"
chmod -R a+rX "$TMP/www"
cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 30000;
pid $TMP/nginx.pid;
error_log $TMP/error.log;
events { worker_connections 12000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path $TMP/tmp; proxy_temp_path $TMP/tmp; fastcgi_temp_path $TMP/tmp;
  uwsgi_temp_path $TMP/tmp; scgi_temp_path $TMP/tmp;
  server { listen $PORT backlog=16384; root $TMP/www; }
}
CONF
"${RUN[@]}" nginx -c "$TMP/nginx.conf" -e "$TMP/error.log"
for _ in $(seq 50); do [ -s "$TMP/nginx.pid" ] && break; sleep 0.1; done

rm -f "$OUT/series.tsv"
files=
titles=
for n in $SERVICES; do
	echo "series: $n services at $RATE req/s"
	"${RUN[@]}" "$LOAD" --prefix "$PREFIX" --hosts "$n" --port "$PORT" --path /obj.html \
		-a "$ALPHA" -r "$RATE" -d "$DURATION" -w 2s -C $((n < 10000 ? 10000 : n)) \
		--tsv "$OUT/series.tsv" --label "$n" --cdf "$OUT/cdf-$n.txt" | tail -n 1
	files="$files $OUT/cdf-$n.txt"
	titles="$titles $n"
done
gnuplot -e "data='$OUT/series.tsv'; out='$OUT/throughput.png'" "$HERE/plots/throughput.gp"
gnuplot -e "data='$OUT/series.tsv'; out='$OUT/latency.png'" "$HERE/plots/latency.gp"
gnuplot -e "files='${files# }'; titles='${titles# }'; out='$OUT/cdf.png'" "$HERE/plots/cdf.gp"
echo "series: wrote $OUT/series.tsv and $OUT/{throughput,latency,cdf}.png"
