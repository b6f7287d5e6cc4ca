#!/usr/bin/env bash
# Against nginx serving N virtual hosts (one address each), the hits nginx logs per host must
# follow Zipf(alpha): a chi-square test at a fixed seed, and the server's counts must equal the
# generator's. As root the servers live in a network namespace of the test's own, on
# 198.18.0.0/15; otherwise on loopback addresses 127.77.0.0/16.
# usage: nginx_zipf_test.sh DENALI_LOAD [STALL_SERVER]
set -u
LOAD=$1
. "$(dirname "$0")/lib.sh"
FAILED=0
N=${N:-50}
ALPHA=1.0
SEED=42
command -v nginx >/dev/null || skip "nginx not installed (Debian: nginx-light)"

TMP=$(mktemp -d /tmp/denali-load-nginx.XXXXXX)
chmod 755 "$TMP" # nginx workers run unprivileged
NS=
cleanup() {
	if [ -s "$TMP/nginx.pid" ]; then
		pid=$(cat "$TMP/nginx.pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

RUN=()
if [ "$(id -u)" = 0 ] && [ "${DENALI_LOAD_NO_NETNS:-0}" != 1 ] &&
	ip netns add "denali-load-$$" 2>/dev/null; then
	NS="denali-load-$$"
	. "$(dirname "$0")/../hang_guard.sh"
	hang_guard 160 # CTest TIMEOUT 180 s
	RUN=(ip netns exec "$NS")
	"${RUN[@]}" ip link set lo up
	# every address of the prefix is local inside the namespace
	"${RUN[@]}" ip route add local 198.18.0.0/15 dev lo
	PREFIX=198.18.0.0/15
	BASE=198.18.0
	PORT=80
	echo "servers in network namespace $NS on $PREFIX"
else
	PREFIX=127.77.0.0/16
	BASE=127.77.0
	PORT=$((20000 + $$ % 20000))
	echo "servers on loopback $PREFIX port $PORT (no root or no netns)"
fi

# N IP-based virtual hosts, each with its own document root; one access log of $server_addr
mkdir -p "$TMP/www" "$TMP/tmp"
{
	echo "worker_processes 1; pid $TMP/nginx.pid; error_log $TMP/error.log;"
	echo "events { worker_connections 1024; }"
	echo "http { log_format addr '\$server_addr \$status'; access_log $TMP/access.log addr;"
	echo "  keepalive_requests 1000000;"
	for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $TMP/tmp;"; done
	for i in $(seq 1 "$N"); do
		mkdir -p "$TMP/www/s$i"
		echo "service $i" >"$TMP/www/s$i/index.html"
		echo "  server { listen $BASE.$i:$PORT; root $TMP/www/s$i; }"
	done
	echo "}"
} >"$TMP/nginx.conf"
chmod -R a+rX "$TMP/www"
if ! "${RUN[@]}" nginx -c "$TMP/nginx.conf" -e "$TMP/error.log"; then
	cat "$TMP/error.log"
	echo "FAIL: nginx did not start"
	exit 1
fi
wait_file "$TMP/nginx.pid" || { echo "FAIL: nginx wrote no pid file"; exit 1; }

"${RUN[@]}" "$LOAD" --prefix "$PREFIX" --hosts "$N" --port "$PORT" --alpha "$ALPHA" \
	--seed "$SEED" --rate 1500 --duration 8s --timeout 10s --warmup 0 --hits "$TMP/hits" >"$TMP/out"
rc=$?
cat "$TMP/out"
check "run completed" "$rc == 0"
fails=$(jget failures "$TMP/out")
sched=$(jget scheduled "$TMP/out")
check "no failed request ($fails)" "$fails == 0 && $sched > 10000"

# Server side: requests per virtual host, by rank (host i is rank i)
awk '{ c[$1]++ } END { for (a in c) print a, c[a] }' "$TMP/access.log" >"$TMP/server"
stat=$(awk -v n="$N" -v alpha="$ALPHA" -v base="$BASE" '
	{ split($1, o, "."); k = o[4] + 0; got[k] = $2; total += $2 }
	END {
		for (k = 1; k <= n; k++) norm += k ^ -alpha
		for (k = 1; k <= n; k++) {
			e = total * (k ^ -alpha) / norm
			chi += (got[k] - e) ^ 2 / e
		}
		printf "%.2f %d\n", chi, total
	}' "$TMP/server")
chi=${stat% *}
total=${stat#* }
crit=$(awk -v df=$((N - 1)) 'BEGIN { a = 2 / (9 * df); t = 1 - a + 3.090232 * sqrt(a);
	printf "%.2f", df * t * t * t }')
echo "zipf: n=$N alpha=$ALPHA seed=$SEED: $total requests logged by nginx," \
	"chi-square $chi (df $((N - 1)), critical $crit at p=0.001)"
check "nginx logged every scheduled request ($total of $sched)" "$total == $sched"
check "server-side hits follow Zipf($ALPHA): chi-square $chi < $crit" "$chi < $crit"

# The generator's own counts agree with the server's, host by host
mismatch=$(awk 'NR == FNR { split($1, o, "."); srv[o[4] + 0] = $2; next }
	/^#/ { next } { if (srv[$1] + 0 != $3) bad++ } END { print bad + 0 }' \
	"$TMP/server" "$TMP/hits")
check "per-target hit counts equal nginx's for every host" "$mismatch == 0"

[ "$FAILED" = 0 ] && echo "nginx zipf test passed" || exit 1
