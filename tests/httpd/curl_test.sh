#!/usr/bin/env bash
# curl against the httpd server loop, inside a network namespace of its own
# (198.18.0.0/15 only, deleted on exit).
#
#   curl_test.sh host BIN_DIR           the glue built for the host (denali-httpd-host)
#   curl_test.sh vm BIN_DIR GUEST_DIR   the httpd guest in a VM, reached through a tap
#
# Checks: a static page byte-exact with Content-Type, Content-Length and
# Last-Modified; a 1 MiB file by sha256; a conditional GET (304); HEAD; the
# dynamic page with its name escaped and the hit counter; keep-alive reuse
# and pipelining; 404 and 405; malformed requests get 400 and the server
# keeps serving; a slow client gets 408.
set -u
MODE=${1:?usage: $0 host|vm BIN_DIR [GUEST_DIR]}
BIN=${2:?usage: $0 host|vm BIN_DIR [GUEST_DIR]}
GUESTS=${3:-}

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root for its network namespace"
	exit 77
fi
for p in curl ip sha256sum; do
	command -v $p >/dev/null || { echo "SKIP: $p is missing"; exit 77; }
done
if [ "$MODE" = vm ]; then
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ] || [ ! -c /dev/net/tun ]; then
		echo "SKIP: needs /dev/kvm and /dev/net/tun; this test boots a VM behind a tap"
		exit 77
	fi
	if ! "$BIN/denalid" run --help 2>&1 | grep -q -- '--tap NAME' ||
		! "$BIN/denalid" run --help 2>&1 | grep -q -- '--disk-ro'; then
		echo "SKIP: denalid run has no --tap or --disk-ro (the host devices are not built)"
		exit 77
	fi
fi

NS=denali-httpd-$MODE-$$
TAP=htap$$
if [ "$MODE" = vm ]; then
	ADDR=198.18.78.2 # VM 0 of 198.18.78.0/24; the tap is the gateway, .1
	PORT=80
else
	ADDR=198.18.77.1
	PORT=8080
fi
TMP=$(mktemp -d /tmp/denali-httpd-test.XXXXXX)
PID=
FAILS=0
CHECKS=0
cleanup() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}
check() { # NAME EXPECTED ACTUAL
	CHECKS=$((CHECKS + 1))
	[ "$2" = "$3" ] || fail "$1: got '$3', expected '$2'"
}
check_in() { # NAME FILE TEXT
	CHECKS=$((CHECKS + 1))
	grep -qF -- "$3" "$2" || { fail "$1: '$3' not in:"; head -c 600 "$2" | sed 's/^/    | /'; }
}
check_not_in() {
	CHECKS=$((CHECKS + 1))
	if grep -qF -- "$3" "$2"; then fail "$1: unexpected '$3'"; fi
}
in_ns() { ip netns exec "$NS" "$@"; }
URL=http://$ADDR:$PORT
c() { in_ns curl -s --max-time 10 "$@"; }
# raw NAME BYTES: send raw bytes on one connection, the replies in $TMP/NAME
raw() {
	in_ns timeout 10 bash -c "exec 3<>/dev/tcp/$ADDR/$PORT; printf '%b' \"\$1\" >&3; cat <&3" \
		_ "$2" >"$TMP/$1" 2>/dev/null
}

# The content: the 612 B and 2,258 B objects of bench/http, a directory, a
# binary file of 1 MiB; fixed mtimes for Last-Modified.
mkdir -p "$TMP/site/docs"
head -c 612 /dev/urandom | base64 -w 76 | head -c 612 >"$TMP/site/index.html"
head -c 2258 /dev/urandom | base64 -w 76 | head -c 2258 >"$TMP/site/docs/page.html"
echo "<!doctype html><title>docs</title>" >"$TMP/site/docs/index.html"
head -c 1048576 /dev/urandom >"$TMP/site/big.bin"
touch -d "2001-09-09 01:46:40 UTC" "$TMP/site/index.html"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/disk.img" || { echo "FAIL: denali-mkfs"; exit 1; }

ip netns add "$NS" || { echo "FAIL: ip netns add $NS"; exit 1; }
. "$(dirname "$0")/../hang_guard.sh"
hang_guard 100 # CTest TIMEOUT 120 s (host) and 180 s (vm)
ip -n "$NS" link set lo up

case $MODE in
host)
	ip -n "$NS" addr add $ADDR/32 dev lo
	DENALI_HTTPD_DISK="$TMP/disk.img" ip netns exec "$NS" "$BIN/denali-httpd-host" $PORT 64 1000 \
		>"$TMP/server.log" 2>&1 &
	PID=$!
	;;
vm)
	in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$NS" tuntap add dev "$TAP" mode tap
	ip -n "$NS" addr add 198.18.78.1/24 dev "$TAP"
	ip -n "$NS" link set "$TAP" up
	ip netns exec "$NS" "$BIN/denalid" run --net 198.18.78.0/24 --tap "$TAP" \
		--disk-ro "$TMP/disk.img" "$GUESTS/httpd" -- $PORT 64 1000 >"$TMP/server.log" 2>&1 &
	PID=$!
	;;
*)
	echo "usage: $0 host|vm BIN_DIR [GUEST_DIR]"
	exit 2
	;;
esac

for _ in $(seq 200); do
	c -o /dev/null "$URL/hits" && break
	sleep 0.1
done
check_in "server started" "$TMP/server.log" "listening on port $PORT"
check_in "disk mounted" "$TMP/server.log" "entries verified"

# static: bytes and headers
code=$(c -D "$TMP/h1" -o "$TMP/b1" -w '%{http_code}' "$URL/index.html")
check "GET /index.html" 200 "$code"
cmp -s "$TMP/b1" "$TMP/site/index.html" || fail "index.html differs"
check_in "Content-Type" "$TMP/h1" "Content-Type: text/html; charset=utf-8"
check_in "Content-Length" "$TMP/h1" "Content-Length: 612"
check_in "Last-Modified" "$TMP/h1" "Last-Modified: Sun, 09 Sep 2001 01:46:40 GMT"
code=$(c -o "$TMP/b2" -w '%{http_code}' "$URL/")
check "GET /" 200 "$code"
cmp -s "$TMP/b2" "$TMP/site/index.html" || fail "/ is not index.html"
c -o "$TMP/big" "$URL/big.bin"
check "1 MiB sha256" "$(sha256sum <"$TMP/site/big.bin")" "$(sha256sum <"$TMP/big")"

# conditional GET
code=$(c -o "$TMP/b3" -w '%{http_code}' -H "If-Modified-Since: Sun, 09 Sep 2001 01:46:40 GMT" \
	"$URL/index.html")
check "If-Modified-Since, not modified" 304 "$code"
CHECKS=$((CHECKS + 1))
[ ! -s "$TMP/b3" ] || fail "304 has a body"
code=$(c -o /dev/null -w '%{http_code}' -H "If-Modified-Since: Sat, 08 Sep 2001 00:00:00 GMT" \
	"$URL/index.html")
check "If-Modified-Since, modified" 200 "$code"

# HEAD
c -I -o "$TMP/h4" "$URL/docs/page.html"
check_in "HEAD" "$TMP/h4" "Content-Length: 2258"

# dynamic pages and the hit counter
c -o "$TMP/hello" --get --data-urlencode 'name=<script>alert("x")</script>' "$URL/hello"
check_in "hello escapes" "$TMP/hello" "Hello, &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;!"
check_not_in "hello escapes" "$TMP/hello" "<script>"
h1=$(c "$URL/hits")
h2=$(c "$URL/hits")
check "hit counter counts" $((h1 + 1)) "$h2"

# keep-alive: one connection for three requests; pipelining on a raw socket
in_ns curl -sv --max-time 10 -o /dev/null "$URL/hits" -o /dev/null "$URL/index.html" \
	-o /dev/null "$URL/docs/" 2>"$TMP/keep"
check "keep-alive reuses one connection" 1 "$(grep -c 'Connected to' "$TMP/keep")"
raw pipe "GET /hits HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /docs HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
check "pipelined answers" 3 "$(grep -c '^HTTP/1.1 ' "$TMP/pipe")"
check_in "pipelined redirect" "$TMP/pipe" "Location: /docs/"

# errors
check "404" 404 "$(c -o /dev/null -w '%{http_code}' "$URL/nope")"
check "405" 405 "$(c -o /dev/null -w '%{http_code}' -X DELETE "$URL/index.html")"
raw bad1 "GET / HTTP/1.1\nHost: a\n\n"
check_in "bare LF is 400" "$TMP/bad1" "HTTP/1.1 400 Bad Request"
raw bad2 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
check_in "CL+TE is 400" "$TMP/bad2" "HTTP/1.1 400 Bad Request"
raw bad3 "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n"
check_in "binary garbage is 400" "$TMP/bad3" "HTTP/1.1 400 Bad Request"
raw big "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
check_in "huge body is 413" "$TMP/big" "HTTP/1.1 413"
code=$(c -o "$TMP/b5" -w '%{http_code}' "$URL/index.html")
check "still serving after malformed input" 200 "$code"

# a slow client: part of a request, then silence, gets 408 (REQUEST_MS 1000)
in_ns timeout 10 bash -c "exec 3<>/dev/tcp/$ADDR/$PORT; printf 'GET / HTTP/1.1\r\nHo' >&3; cat <&3" \
	>"$TMP/slow" 2>/dev/null
check_in "slow client gets 408" "$TMP/slow" "HTTP/1.1 408 Request Timeout"
code=$(c -o /dev/null -w '%{http_code}' "$URL/hits")
check "still serving after the slow client" 200 "$code"
kill -0 "$PID" 2>/dev/null || fail "the server died"

echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
