# bench/isolation/hogs.sh - starting and watching the hog guests (sourced, not run).
#
# Set before use: HOG_CTL (a command running denalictl on the daemon's socket), HOG_GUESTS
# (the guest directory), HOG_STATE (the daemon's state dir: consoles are in
# STATE/vms/NAME/console.log), HOG_DISK (a writable scratch disk for the disk hog).
# Hogs: cpu, exits, disk (64 KiB writes, QD 32), net (flood to the uplink), bcast (broadcast
# flood), mem (touches 64 MiB over and over). Each VM is named hog-KIND.

hog_unit() {
	case $1 in
	cpu) echo loops ;; exits) echo exits ;; disk) echo requests ;;
	net | bcast) echo frames ;; mem) echo pages ;; *) return 1 ;;
	esac
}

# hog_start KIND SECONDS: defines and boots hog-KIND (SECONDS 0: until stopped).
hog_start() {
	local k=$1 s=$2
	case $k in
	cpu | exits) $HOG_CTL start "hog-$k" "$HOG_GUESTS/hog-$k" -- "$s" ;;
	disk) $HOG_CTL start hog-disk "$HOG_GUESTS/hog-disk" --disk "$HOG_DISK" -- "$s" write ;;
	net) $HOG_CTL start hog-net "$HOG_GUESTS/hog-net" --net -- "$s" ;;
	bcast) $HOG_CTL start hog-bcast "$HOG_GUESTS/hog-net" --net -- "$s" bcast ;;
	mem) $HOG_CTL start hog-mem "$HOG_GUESTS/hog-mem" --mem 64M -- "$s" ;;
	*) echo "hogs: no hog '$k'" >&2; return 1 ;;
	esac >/dev/null
}

hog_log() { cat "$HOG_STATE/vms/hog-$1/console.log" 2>/dev/null; }

# hog_wait_working KIND: until the hog has reported a second of work (10 s at most).
hog_wait_working() {
	local u
	u=$(hog_unit "$1")
	for _ in $(seq 100); do
		hog_log "$1" | grep -qE "^hog-[a-z]+: [1-9][0-9]* $u/s" && return 0
		sleep 0.1
	done
	return 1
}

# hog_rate KIND: "KIND RATE", the median of the hog's once-a-second reports.
hog_rate() {
	local u
	u=$(hog_unit "$1")
	hog_log "$1" | sed -n "s/^hog-[a-z]*: \([0-9]*\) $u\/s$/\1/p" | sort -n |
		awk -v k="$1" '{ v[NR] = $1 } END { print k, NR ? v[int((NR + 1) / 2)] : 0 }'
}

# hog_stop KIND: stops hog-KIND and forgets its definition.
hog_stop() { $HOG_CTL stop "hog-$1" >/dev/null 2>&1 || true; }
