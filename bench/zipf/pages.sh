#!/usr/bin/env bash
# bench/zipf/pages.sh - where an httpd VM's resident pages go, after a Zipf load.
#
#   bench/zipf/pages.sh [N_SERVICES [RATE [DURATION [EXPORTS]]]]   (defaults 100 1000 10s 5)
#
# N httpd VMs as in the series (4 MiB, 16 connections, own rofs disk), a warm-up and a
# measured Zipf(1.0) run of RATE req/s for DURATION, then the mean resident KiB per VM
# (mincore, from `denalictl list --json`) and, for the EXPORTS hottest services (svc-0 up),
# `denalictl export` (swaps the VM out and writes its non-zero pages) and vmpages.py's
# table: pages per region (low megabyte, image, .bss objects, heap blocks, stack).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FLEET_BUILD=${DENALI_BUILD:-$ROOT/build}
FLEET_NAME=pages
# shellcheck source=fleet.sh
. "$HERE/fleet.sh"
case ${1:-} in -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
N=${1:-100} RATE=${2:-1000} DUR=${3:-10s} EXPORTS=${4:-5}
fleet_check || exit 1
fleet_swap_supported || { echo "pages: denalid serve has no --swap (export needs it)" >&2; exit 1; }
fleet_init || exit 1
trap fleet_cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$FLEET_TMP/swap"
fleet_daemon_start --max-vms $((N + 16)) --workers 1 --swap "$FLEET_TMP/swap" \
	--mem-budget 16G --swap-slot 4M --swap-size "$((4 * (N + 16)))M" || exit 1
fleet_site "$FLEET_TMP/site" 2258
fleet_disks "$N" "$FLEET_TMP/site"
fleet_start "$N" 4M 16 || exit 1
fleet_load -a 1.0 -r "$RATE" -w 0 --timeout 5s --conns-per-target 8 -C $((N + 1024)) -d 3s -q \
	>/dev/null || true
fleet_load -a 1.0 -r "$RATE" -w 0 --timeout 5s --conns-per-target 8 -C $((N + 1024)) -d "$DUR" \
	-q | tail -n 1 | python3 -c 'import json,sys; d=json.loads(sys.stdin.read())
print("pages: %d services, %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d failed" % (
    '"$N"', d["throughput"], d["p50_ms"], d["p99_ms"], d["failures"]))'
fleet_ctl list --json >"$FLEET_TMP/list.json"
python3 - "$FLEET_TMP/list.json" <<'PY'
import json, sys
vms = [v for v in json.load(open(sys.argv[1])) if v.get("resident_kib")]
r = sorted(v["resident_kib"] for v in vms)
print("pages: resident (mincore) per VM: mean %.0f KiB, median %d, max %d, over %d VMs" % (
    sum(r) / len(r), r[len(r) // 2], r[-1], len(r)))
PY
files=() cold=()
for ((i = 0; i < EXPORTS && i < N; i++)); do
	fleet_ctl export "svc-$i" "svc-$i.exp" >/dev/null
	files+=("$FLEET_TMP/state/exports/svc-$i.exp")
done
for ((i = N - 1; i >= N - EXPORTS && i >= EXPORTS; i--)); do
	fleet_ctl export "svc-$i" "svc-$i.exp" >/dev/null
	cold+=("$FLEET_TMP/state/exports/svc-$i.exp")
done
echo "pages: the $EXPORTS hottest services (svc-0..), non-zero pages by region:"
python3 "$HERE/vmpages.py" "$FLEET_GUESTS/httpd" "${files[@]}"
echo "pages: heap blocks of svc-0:"
python3 "$HERE/vmpages.py" --blocks "$FLEET_GUESTS/httpd" "${files[0]}"
if [ ${#cold[@]} -gt 0 ]; then
	echo "pages: the ${#cold[@]} coldest services, non-zero pages by region:"
	python3 "$HERE/vmpages.py" "$FLEET_GUESTS/httpd" "${cold[@]}"
fi
echo "pages: load average $(cut -d' ' -f1-3 /proc/loadavg)"
