#!/usr/bin/env bash
# rofs in a VM: denali-mkfs packs a tree, the rofscheck guest mounts it from
# its disk through the block driver, verifies every file's checksum and
# looks paths up; a corrupted image is refused at mount, a damaged file
# fails its check, and neither crashes the guest.
. "$(dirname "$0")/lib.sh"
require_kvm
if ! "$DENALID" run --help 2>&1 | grep -q -- '--disk-ro'; then
	echo "SKIP: denalid run has no --disk-ro (the host block device is not built)"
	exit 77
fi
MKFS=$BIN/denali-mkfs
C=$GUESTS/rofscheck

mkdir -p "$TMP/tree/docs/deep/er"
head -c 612 /dev/urandom >"$TMP/tree/index.html"
head -c 300000 /dev/urandom >"$TMP/tree/docs/deep/er/big.bin"
: >"$TMP/tree/empty"
echo "body {}" >"$TMP/tree/docs/site.css"
touch -d @1000000000 "$TMP/tree/index.html"
"$MKFS" -q "$TMP/tree" "$TMP/site.img"
expect_status mkfs 0 $?

run_denalid ok run --disk-ro "$TMP/site.img" "$C" -- index.html docs/deep/er/big.bin nope docs/..
expect_status ok 0 "$STATUS"
expect_in ok "$TMP/ok.out" "f 612 1000000000 index.html ok"
expect_in ok "$TMP/ok.out" "f 300000 "
expect_in ok "$TMP/ok.out" "docs/deep/er/big.bin ok"
expect_in ok "$TMP/ok.out" "f 0 "
expect_in ok "$TMP/ok.out" "d - "
expect_in ok "$TMP/ok.out" "lookup index.html: found 612"
expect_in ok "$TMP/ok.out" "lookup docs/deep/er/big.bin: found 300000"
expect_in ok "$TMP/ok.out" "lookup nope: missing"
expect_in ok "$TMP/ok.out" "lookup docs/..: error -22"
expect_in ok "$TMP/ok.out" "rofscheck: 7 entries, 4 files verified, 300620 bytes"

# One byte of big.bin's data changed (its sectors come before those of the
# three small files): mount works, that file fails its check.
cp "$TMP/site.img" "$TMP/data.img"
size=$(stat -c %s "$TMP/data.img")
# XOR, not a constant: the content is random, and one time in 256 the byte
# already was that constant and nothing changed.
old=$(dd if="$TMP/data.img" bs=1 skip=$((size - 4096)) count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\x$(printf %02x $((old ^ 0x55)))" |
	dd of="$TMP/data.img" bs=1 seek=$((size - 4096)) conv=notrunc status=none
cmp -s "$TMP/site.img" "$TMP/data.img" && { echo "FAIL: data: the image did not change"; exit 1; }
run_denalid data run --disk-ro "$TMP/data.img" "$C"
expect_status data 2 "$STATUS"
expect_in data "$TMP/data.out" "docs/deep/er/big.bin BAD"
expect_in data "$TMP/data.out" "index.html ok"

# The table damaged: refused at mount with -EBADMSG (74).
cp "$TMP/site.img" "$TMP/meta.img"
printf '\x01' | dd of="$TMP/meta.img" bs=1 seek=520 conv=notrunc status=none
run_denalid meta run --disk-ro "$TMP/meta.img" "$C"
expect_status meta 1 "$STATUS"
expect_in meta "$TMP/meta.out" "rofscheck: mount failed: -74"

# Not an image at all, and a truncated one: refused (-22), no crash.
head -c 65536 /dev/urandom >"$TMP/junk.img"
run_denalid junk run --disk-ro "$TMP/junk.img" "$C"
expect_status junk 1 "$STATUS"
expect_in junk "$TMP/junk.out" "rofscheck: mount failed: -22"
head -c 4096 "$TMP/site.img" >"$TMP/short.img"
run_denalid short run --disk-ro "$TMP/short.img" "$C"
expect_status short 1 "$STATUS"
expect_in short "$TMP/short.out" "rofscheck: mount failed: -22"
finish
