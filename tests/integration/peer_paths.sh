#!/usr/bin/env bash
# A hostile local client: a member of the control socket's group who is not root names, as its
# VM's image or disk, a file only root may read or write. The daemon runs as root and would
# open it for them (a guest then reads /etc/shadow or overwrites /etc/passwd). It must open
# only what that user could: every such start is refused with a clear error and the file is
# untouched, while what the user may open still works. A definition is checked again on
# restore, against the opened file: a disk the user swaps for a symlink to a root file while
# the daemon is down does not come back.
. "$(dirname "$0")/lib.sh"
require_kvm
if ! command -v setpriv >/dev/null || ! NG=$(getent group nogroup | cut -d: -f3) ||
	[ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root, setpriv and the group nogroup to act as another user"
	exit 77
fi
trap daemons_cleanup EXIT
chmod 711 "$TMP"
NOBODY=65534
as_nobody() { setpriv --reuid=$NOBODY --regid="$NG" --clear-groups "$@"; }

cp "$GUESTS/blkcheck" "$TMP/blkcheck" && chmod 755 "$TMP/blkcheck"
cp "$GUESTS/blkcheck" "$TMP/rootonly.elf" && chmod 700 "$TMP/rootonly.elf"
mkdisk() { # mkdisk PATH OWNER MODE
	printf 'denali-secret-%s\n' "$1" >"$1" && truncate -s 65536 "$1"
	chown "$2" "$1" && chmod "$3" "$1"
}
mkdisk "$TMP/secret" 0 600   # root's: nobody may neither read nor write it
mkdisk "$TMP/shared" 0 644   # root's, world-readable: read-only for nobody
mkdisk "$TMP/mine" $NOBODY 666 # nobody's own (the daemon, root without capabilities, opens it as "other")
mkdisk "$TMP/rootdisk" 0 600 # root's, used by root
cp "$TMP/secret" "$TMP/secret.orig"
cp "$TMP/shared" "$TMP/shared.orig"

daemon_start a --workers 1 --socket-group nogroup
S="--socket $TMP/a.sock"

# refused: CASE EXPECTED-TEXT ARGS... (run as nobody)
refused() {
	local name=$1 text=$2
	shift 2
	as_nobody timeout 20 "$CTL" $S start "$name" "$@" >"$TMP/$name.out" 2>&1
	expect_status "$name" 1 "$?"
	expect_in "$name" "$TMP/$name.out" "$text"
}
refused w-secret "disk $TMP/secret: permission denied" "$TMP/blkcheck" --disk "$TMP/secret" -- rw 1
refused r-secret "disk $TMP/secret: permission denied" "$TMP/blkcheck" --disk "$TMP/secret" \
	--disk-ro -- ro
refused w-shared "disk $TMP/shared: permission denied" "$TMP/blkcheck" --disk "$TMP/shared" -- rw 1
refused img "image $TMP/rootonly.elf: permission denied" "$TMP/rootonly.elf"

# allowed: what nobody may open itself, and anything for root
as_nobody timeout 20 "$CTL" $S start ok-shared "$TMP/blkcheck" --disk "$TMP/shared" --disk-ro \
	-- ro >"$TMP/ok-shared.out" 2>&1
expect_status ok-shared 0 "$?"
as_nobody timeout 20 "$CTL" $S start ok-mine "$TMP/blkcheck" --disk "$TMP/mine" -- rw 1 \
	>"$TMP/ok-mine.out" 2>&1
expect_status ok-mine 0 "$?"
timeout 20 "$CTL" $S start ok-root "$TMP/blkcheck" --disk "$TMP/rootdisk" -- rw 1 \
	>"$TMP/ok-root.out" 2>&1
expect_status ok-root 0 "$?"
for v in ok-mine ok-root; do
	for _ in $(seq 100); do
		timeout 5 "$CTL" $S console "$v" >"$TMP/$v.con" 2>&1
		grep -q "match" "$TMP/$v.con" && break
		sleep 0.1
	done
	expect_in "$v" "$TMP/$v.con" "rw 1 sectors"
	expect_not_in "$v" "$TMP/$v.con" "MISMATCH"
done
CHECKS=$((CHECKS + 1))
cmp -s "$TMP/secret" "$TMP/secret.orig" || fail "a refused client changed root's 0600 file"
CHECKS=$((CHECKS + 1))
cmp -s "$TMP/shared" "$TMP/shared.orig" || fail "a refused client changed root's 0644 file"
CHECKS=$((CHECKS + 1))
cmp -s "$TMP/mine" "$TMP/secret.orig" && fail "nobody's own disk was not written"
daemon_stop "$DPID"
expect_status a-sigterm 0 "$?"

# While the daemon is down, nobody swaps its disk for a symlink to root's file.
rm -f "$TMP/mine" && ln -s "$TMP/secret" "$TMP/mine"
daemon_launch a --workers 1 --socket-group nogroup
daemon_wait a
expect_status a-restart 0 "$?"
for _ in $(seq 100); do grep -q "restored" "$TMP/a.log" && break; sleep 0.1; done
expect_in restore "$TMP/a.log" "vm ok-mine: not restarted"
expect_in restore "$TMP/a.log" "disk $TMP/mine: permission denied"
timeout 10 "$CTL" $S list >"$TMP/list.out" 2>&1
expect_in restore-list "$TMP/list.out" "ok-root"
sleep 0.5
CHECKS=$((CHECKS + 1))
cmp -s "$TMP/secret" "$TMP/secret.orig" || fail "a restored definition wrote root's file"
daemon_stop "$DPID"
expect_status a-sigterm2 0 "$?"
finish
