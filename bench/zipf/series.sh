#!/usr/bin/env bash
# bench/zipf/series.sh - Denali's figure: aggregate throughput and latency against the number
# of web services, at a fixed memory budget, with nginx-with-virtual-hosts as the peer.
#
# For each N in --services: a fresh `denalid serve` (budget, swap) in a network namespace of
# its own runs N httpd VMs (own address, own rofs disk, a 2,258-byte object); denali-load
# offers a fixed Zipf(alpha) open-loop rate, then sweeps the rate for the highest one meeting
# a latency objective. Then one nginx (Debian's) with N virtual hosts (one address each, same
# object) takes the same two runs in the same namespace. Writes OUTDIR/series.tsv,
# OUTDIR/runs/*, and the plots throughput.png and latency.png (in-core and disk-bound regimes
# marked where the budget runs out). Human lines on stdout as it goes.
#
#   bench/zipf/series.sh [--services "100 300 1000 3000"] [--budget SIZE] [--rate R]
#                        [--duration D] [--sweep LO:HI] [--slo 'p99<50ms'] [--sweep-runs K] [--alpha A]
#                        [--object BYTES] [--workers N] [--no-peer] [--no-sweep] [--no-swap]
#                        [--live-max N] [--nice N] [--out DIR]
# --no-swap: every VM stays resident (no --swap, no budget): the in-core plateau alone.
# --live-max N: the gatekeeper's live-shell cap (with swap).
# --nice N: the daemon, nginx and denali-load at nice N (fleet.sh FLEET_NICE), e.g. -10 on a
#   machine shared with builds: both servers and the client get the same head start.
# --sweep-runs K: runs per swept rate (denali-load --sweep-runs): a rate passes when most of
#   its runs do, so one run disturbed by the shared host neither ends nor makes the sweep.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FLEET_BUILD=${DENALI_BUILD:-$ROOT/build}
FLEET_NAME=series
# shellcheck source=fleet.sh
. "$HERE/fleet.sh"

SERVICES="100 300 1000 3000"
BUDGET=256M
RATE=1000
DURATION=10s
SWEEP=250:16000
SLO='p99<50ms'
SWEEP_DURATION=4s
SWEEP_RUNS=3
ALPHA=1.0
OBJECT=2258
MEM=4M
WORKERS=1
PEER=1
DO_SWEEP=1
NO_SWAP=0
OUT=$ROOT/build/zipf-series
LIVE_MAX= # --live-max N: the gatekeeper's live-shell cap (with swap; default: the fd cap)

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	cat <<EOF
Defaults: --services "$SERVICES" --budget $BUDGET --rate $RATE --duration $DURATION
  --sweep $SWEEP --slo '$SLO' (trials of $SWEEP_RUNS runs of $SWEEP_DURATION) --alpha $ALPHA --object $OBJECT
  --workers $WORKERS (denalid workers and nginx worker processes alike) --out $OUT
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--services) SERVICES=$2; shift 2 ;;
	--budget) BUDGET=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--sweep) SWEEP=$2; shift 2 ;;
	--slo) SLO=$2; shift 2 ;;
	--sweep-runs) SWEEP_RUNS=$2; shift 2 ;;
	--alpha) ALPHA=$2; shift 2 ;;
	--object) OBJECT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--no-peer) PEER=0; shift ;;
	--no-sweep) DO_SWEEP=0; shift ;;
	--live-max) LIVE_MAX=$2; shift 2 ;;
	--no-swap) NO_SWAP=1; shift ;;
	--nice) FLEET_NICE=$2; fleet_nice_argv; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "series: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
for n in $SERVICES; do
	case $n in '' | *[!0-9]* | 0) echo "series: --services takes positive numbers" >&2; exit 2 ;; esac
done
fleet_check || { echo "series: cannot run here (see above)" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "series: gnuplot is missing (gnuplot-nox)" >&2; exit 1; }
if [ "$PEER" = 1 ] && ! command -v nginx >/dev/null; then
	echo "series: nginx is missing (nginx-light); --no-peer runs without the peer" >&2
	exit 1
fi
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
fleet_init || exit 1
trap fleet_cleanup EXIT
trap 'exit 130' INT TERM

SWAP=0
[ $NO_SWAP = 0 ] && fleet_swap_supported && SWAP=1
echo "series: services '$SERVICES', budget $BUDGET ($([ $SWAP = 1 ] && echo "swap on" ||
	{ [ $NO_SWAP = 1 ] && echo "--no-swap: no budget, every VM resident"; } ||
	echo "swap NOT active: denalid serve has no --swap yet, the budget is not applied")),"
echo "series: Zipf $ALPHA, $RATE req/s for $DURATION, sweep $SWEEP to $SLO ($SWEEP_RUNS runs a rate), ${OBJECT}-byte object," \
	"$WORKERS worker(s), nice ${FLEET_NICE:-0}; load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
fleet_site "$FLEET_TMP/site" "$OBJECT"

# row N KIND FIXED_JSON SWEEP_JSON: one line of series.tsv
row() {
	python3 - "$@" <<'PY'
import json, sys
n, kind, fixed, sweep = sys.argv[1:5]
f = json.load(open(fixed))
best = json.loads(open(sweep).read().strip().splitlines()[-1]).get("best_rate", 0) if sweep != "-" else 0
print("\t".join(str(x) for x in (
    n, kind, f["rate"], round(f["throughput"], 1), round(f["p50_ms"], 3), round(f["p99_ms"], 3),
    round(f["p99_9_ms"], 3), f["failures"], f["completed"], round(best, 1),
    round(f.get("exits_per_req", 0), 2), round(f.get("daemon_cores", f.get("peer_cores", 0)), 3),
    f.get("vms_resident", "-"), f.get("vms_swapped", "-"), f.get("swap_ins_run", "-"),
    (f.get("swap") or {}).get("peak_resident_bytes", "-"))))
PY
}
printf '# services\tkind\trate\tthroughput\tp50_ms\tp99_ms\tp99_9_ms\tfailures\tcompleted\tsweep_best\texits_per_req\tserver_cores\tvms_resident\tvms_swapped\tswap_ins\tpeak_resident_bytes\n' \
	>"$OUT/series.tsv"

LOAD=(-a "$ALPHA" -r "$RATE" -w 0 --timeout 5s --conns-per-target 8)
SWEEPARGS=(-a "$ALPHA" --conns-per-target 8 --sweep "$SWEEP" --slo "$SLO" --sweep-runs "$SWEEP_RUNS"
	-d "$SWEEP_DURATION" -w 1s --timeout 5s -q)

for n in $SERVICES; do
	R=$OUT/runs/denali-$n
	DAEMON=(--max-vms $((n + 16)) --workers "$WORKERS")
	if [ $SWAP = 1 ]; then
		mkdir -p "$FLEET_TMP/swap"
		DAEMON+=(--swap "$FLEET_TMP/swap" --mem-budget "$BUDGET" --swap-slot 2M
			--swap-size "$((2 * (n + 16)))M")
		[ -n "$LIVE_MAX" ] && DAEMON+=(--live-max "$LIVE_MAX")
	fi
	fleet_daemon_start "${DAEMON[@]}" || exit 1
	t0=$SECONDS
	fleet_disks "$n" "$FLEET_TMP/site"
	if ! fleet_start "$n" "$MEM" 16; then
		echo "series: $n services did not all start; the series stops here" >&2
		fleet_daemon_stop
		break
	fi
	up=$((SECONDS - t0))
	C=(-C $((n + 1024)))
	fleet_load "${LOAD[@]}" "${C[@]}" -d 3s -s 7 -q >/dev/null || true # warm-up
	fleet_measure "$R" "${LOAD[@]}" "${C[@]}" -d "$DURATION" --cdf "$R.cdf" || exit 1
	# Density: the mean guest memory resident per VM (mincore, from list) and the daemon's RSS.
	fleet_ctl list --json >"$R.list.json" || exit 1
	python3 - "$R.json" "$R.list.json" "$(fleet_daemon_rss_kib)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
vms = [v for v in json.load(open(sys.argv[2])) if v.get("resident_kib")]
d["vm_resident_kib"] = sum(v["resident_kib"] for v in vms) / max(1, len(vms))
d["daemon_rss_kib"] = int(sys.argv[3])
json.dump(d, open(sys.argv[1], "w"))
PY
	SW=-
	if [ $DO_SWEEP = 1 ]; then
		fleet_load "${SWEEPARGS[@]}" "${C[@]}" >"$R.sweep.json" || exit 1
		SW=$R.sweep.json
	fi
	row "$n" denali "$R.json" "$SW" >>"$OUT/series.tsv"
	echo "series: denali $n services (up in ${up}s): $(tail -n 1 "$OUT/series.tsv" | cut -f4-10 |
		awk -F'\t' '{ printf "%s req/s, p50 %s p99 %s p99.9 %s ms, %s failed; sweep best %s req/s", $1, $2, $3, $4, $5, $7 }')," \
		"$(jfield "$R.json" "d['vms_resident']") resident, $(jfield "$R.json" "d['vms_swapped']") swapped," \
		"$(jfield "$R.json" "d['swap_ins_run']") swap-ins, $(jfield "$R.json" "round(d['exits_per_req'], 2)") exits/req," \
		"$(jfield "$R.json" "round(d['daemon_cores'], 2)") cores, $(jfield "$R.json" "round(d['vm_resident_kib'])") KiB" \
		"resident per VM, daemon RSS $(jfield "$R.json" "d['daemon_rss_kib'] // 1024") MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
	fleet_daemon_stop
	rm -rf "$FLEET_TMP/disks"

	[ "$PEER" = 1 ] || continue
	P=$OUT/runs/nginx-$n
	fleet_nginx_start "$n" "$FLEET_TMP/site" "$WORKERS" || exit 1
	fleet_load_peer "${LOAD[@]}" "${C[@]}" -d 3s -s 7 -q >/dev/null || true
	c0=$(fleet_nginx_cpu)
	fleet_load_peer "${LOAD[@]}" "${C[@]}" -d "$DURATION" --cdf "$P.cdf" >"$P.txt" || exit 1
	c1=$(fleet_nginx_cpu)
	tail -n 1 "$P.txt" | python3 -c 'import json, sys
d = json.load(sys.stdin)
d["peer_cores"] = (float(sys.argv[2]) - float(sys.argv[1])) / d["wall_s"]
json.dump(d, sys.stdout)' "$c0" "$c1" >"$P.json"
	SW=-
	if [ $DO_SWEEP = 1 ]; then
		fleet_load_peer "${SWEEPARGS[@]}" "${C[@]}" >"$P.sweep.json" || exit 1
		SW=$P.sweep.json
	fi
	row "$n" nginx "$P.json" "$SW" >>"$OUT/series.tsv"
	echo "series: nginx  $n vhosts: $(tail -n 1 "$OUT/series.tsv" | cut -f4-10 |
		awk -F'\t' '{ printf "%s req/s, p50 %s p99 %s p99.9 %s ms, %s failed; sweep best %s req/s", $1, $2, $3, $4, $5, $7 }')"
	fleet_nginx_stop
done

# --- the in-core limit: how many VMs the budget holds, from the per-VM resident charge -------
INCORE=0
if [ $SWAP = 1 ]; then
	INCORE=$(python3 - "$OUT/runs" "$BUDGET" <<'PY'
import glob, json, re, sys
units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
b = sys.argv[2]
budget = int(b[:-1]) * units[b[-1].upper()] if b[-1].upper() in units else int(b)
per = []
for f in glob.glob(sys.argv[1] + "/denali-*.after.json"):
    s = json.load(open(f)).get("swap") or {}
    if s.get("vms_resident"):
        per.append(s["resident_bytes"] / s["vms_resident"])
print(int(budget / (sum(per) / len(per))) if per else 0)
PY
)
fi
echo "series: in-core limit ${INCORE:-0} VMs (budget / mean resident bytes per VM; 0 = no swap)"

# --- ratios and plots -----------------------------------------------------------------------
awk -F'\t' '!/^#/ { k = $1; if ($2 == "denali") { d[k] = $4; ds[k] = $10 } else { g[k] = $4; gs[k] = $10 } }
	END { for (k in d) if (k in g) printf "series: %s services: denali/nginx throughput %.2f, sweep best %s\n",
		k, d[k] / g[k], (gs[k] > 0 ? sprintf("%.2f", ds[k] / gs[k]) : "- (nginx met the SLO at no rate)") }' "$OUT/series.tsv" | sort -t' ' -k2 -n
awk -F'\t' '$2 == "denali" || /^#/' "$OUT/series.tsv" >"$OUT/denali.tsv"
awk -F'\t' '$2 == "nginx" || /^#/' "$OUT/series.tsv" >"$OUT/nginx.tsv"
for p in throughput latency; do
	gnuplot -e "den='$OUT/denali.tsv'; ngx='$OUT/nginx.tsv'; out='$OUT/$p.png'; incore=$INCORE; sweep=$DO_SWEEP;" \
		-e "ttl='budget $BUDGET, Zipf $ALPHA, ${OBJECT} B, load avg $(cut -d' ' -f1 /proc/loadavg)'" \
		"$HERE/plots/$p.gp"
done
echo "series: wrote $OUT/series.tsv, $OUT/throughput.png, $OUT/latency.png"
