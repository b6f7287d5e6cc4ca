#!/usr/bin/env bash
# The httpd guest in a real VM: content from a rofs image on its disk,
# served over the libos TCP/IP stack through the virtual switch to a client
# VM (httpget), in a network namespace of this test's own (198.18.9.0/24;
# the switch has no uplink here, so no host interface is involved).
# Static pages byte-exact by CRC (612 B, 2,258 B, 1 MiB), a directory index
# and its redirect, a conditional GET, the dynamic page with its name
# escaped and the hit counter, pipelining on one connection, 404 and 405,
# malformed requests answered 400 while the server keeps serving, a slow
# client answered 408; then a 10 MiB download byte-exact beside 100
# connections open at once.
. "$(dirname "$0")/lib.sh"
require_kvm
if ! "$DENALID" run --help 2>&1 | grep -q -- '--disk-ro' ||
	! "$DENALID" run --help 2>&1 | grep -q -- '--net PREFIX'; then
	echo "SKIP: denalid run has no --net or --disk-ro (the host net or block device is not built)"
	exit 77
fi
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v gzip >/dev/null; then
	echo "SKIP: needs root, ip(8) and gzip"
	exit 77
fi
NS=denali-httpd-vm-$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$TMP"' EXIT

# crc32 of a file, as the guest prints it (gzip's trailer holds it)
crc() { gzip -c "$1" | tail -c8 | od -An -tx4 -N4 | tr -d ' '; }

mkdir -p "$TMP/site/docs"
head -c 612 /dev/urandom | base64 -w 76 | head -c 612 >"$TMP/site/index.html"
head -c 2258 /dev/urandom | base64 -w 76 | head -c 2258 >"$TMP/site/docs/page.html"
echo "<!doctype html><title>docs</title>" >"$TMP/site/docs/index.html"
head -c 1048576 /dev/urandom >"$TMP/site/big.bin"
touch -d @1000000000 "$TMP/site/index.html"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
expect_status mkfs 0 $?

H='\sHTTP/1.1\r\nHost:\svm\r\n'
get() { printf 'GET\\s%s%s\\r\\n' "$1" "$H"; }
C0="$(get /index.html)$(get /docs/page.html)$(get /big.bin)$(get /docs/)"
C1="GET\s/index.html${H}If-Modified-Since:\sSun,\s09\sSep\s2001\s01:46:40\sGMT\r\n\r\n"
C1+="GET\s/index.html${H}If-Modified-Since:\sSat,\s08\sSep\s2001\s01:46:40\sGMT\r\n\r\n"
C2="$(get '/hello?name=%3Cscript%3Ealert(1)%3C/script%3E')$(get /hits)$(get /docs)"
C3="$(get /nope)DELETE\s/index.html${H}\r\n"
C4='GET\s/\sHTTP/1.1\nHost:\svm\n\n'
C5='POST\s/\sHTTP/1.1\r\nHost:\svm\r\nContent-Length:\s5\r\nTransfer-Encoding:\schunked\r\n\r\n'
C6="$(get /hits)"
C7='GET\s/index.html\sHTTP/1.1\r\nHo\p'
C8="$(get /index.html)"
ADDR=198.18.9.2 # VM 0, the server
timeout 120 ip netns exec "$NS" "$DENALID" run --net 198.18.9.0/24 --disk-ro "$TMP/site.img" \
	"$GUESTS/httpd" --with "$GUESTS/httpget $ADDR 80 $C0 $C1 $C2 $C3 $C4 $C5 $C6 $C7 $C8" \
	-- 80 64 1000 9 >"$TMP/run.out" 2>"$TMP/run.err"
expect_status run 0 $?
O=$TMP/run.out
expect_in mount "$O" "httpd: rofs mounted, 5 entries verified"
expect_in static "$O" "conn 0 resp 0: status 200 length 612 crc $(crc "$TMP/site/index.html")"
expect_in static "$O" "conn 0 resp 1: status 200 length 2258 crc $(crc "$TMP/site/docs/page.html")"
expect_in static "$O" "conn 0 resp 2: status 200 length 1048576 crc $(crc "$TMP/site/big.bin")"
expect_in index "$O" "conn 0 resp 3: status 200 length 35 crc $(crc "$TMP/site/docs/index.html")"
expect_in keepalive "$O" "conn 0: 4 responses"
expect_in conditional "$O" "conn 1 resp 0: status 304 length 0"
expect_in conditional "$O" "conn 1 resp 1: status 200 length 612"
expect_in hello "$O" "conn 2 resp 0 body: <!doctype html>"
expect_in hello "$O" "Hello, &lt;script&gt;alert(1)&lt;/script&gt;!"
expect_not_in hello "$O" "<script>"
expect_in redirect "$O" "conn 2 resp 2: status 301"
expect_in errors "$O" "conn 3 resp 0: status 404"
expect_in errors "$O" "conn 3 resp 1: status 405"
expect_in "bare LF" "$O" "conn 4 resp 0: status 400"
expect_in "CL+TE" "$O" "conn 5 resp 0: status 400"
expect_in "after 400s" "$O" "conn 6 resp 0: status 200"
expect_in "slow client" "$O" "conn 7 resp 0: status 408"
expect_in "after 408" "$O" "conn 8 resp 0: status 200 length 612"
# hits: 4 + 2 + 3 + 2 answered by the site before conn 6's /hits, which counts itself
expect_in hits "$O" "conn 6 resp 0 body: 12"
expect_in counters "$O" "httpd: served 9 connections"
expect_not_in killed "$TMP/run.err" "killed"

# A 10 MiB download byte-exact, beside 100 connections open at once.
head -c $((10 << 20)) /dev/urandom >"$TMP/site/big10.bin"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
expect_status mkfs 0 $?
BIG="$(get /big10.bin)"
MANY="GET\s/index.html${H}Connection:\sclose\r\n\r\n"
timeout 120 ip netns exec "$NS" "$DENALID" run --net 198.18.9.0/24 --disk-ro "$TMP/site.img" \
	"$GUESTS/httpd" --with "$GUESTS/httpget $ADDR 80 $BIG" \
	--with "$GUESTS/httpget $ADDR 80 -c 100 $MANY" \
	-- 80 128 10000 101 >"$TMP/load.out" 2>"$TMP/load.err"
expect_status load 0 $?
O=$TMP/load.out
expect_in 10MiB "$O" "conn 0 resp 0: status 200 length 10485760 crc $(crc "$TMP/site/big10.bin")"
expect_in 100conns "$O" "concurrent: 100 connections open at once, 100 responses, first status 200 length 612 crc $(crc "$TMP/site/index.html"), 0 different"
expect_in counters "$O" "httpd: served 101 connections, 101 requests"
expect_not_in killed "$TMP/load.err" "killed"
finish
