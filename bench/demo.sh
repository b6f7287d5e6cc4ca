#!/usr/bin/env bash
# bench/demo.sh - the main job (./dev.sh demo): Denali's experiment at small scale.
#
# A network namespace of its own with a tap on 198.18.0.0/15, one `denalid serve` on it with a
# memory budget and swap, N httpd VMs each with its own address and its own rofs content disk
# (a 2,258-byte object, as in Denali's evaluation), driven by denali-load with Zipf(alpha)
# popularity and open-loop Poisson arrivals from inside the namespace. Ends with a summary
# (services, requests, throughput, latency percentiles, errors, VMs resident and swapped,
# swap-ins, exits per request, the daemon's CPU) and a PNG of the run. Everything it made is
# removed at exit; it ends only its own daemon, by pid.
#
#   bench/demo.sh [--services N] [--rate R] [--duration D] [--alpha A] [--budget SIZE]
#                 [--mem SIZE] [--object BYTES] [--workers N] [--out DIR] [--no-swap]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FLEET_BUILD=${DENALI_BUILD:-$ROOT/build}
FLEET_NAME=demo
# shellcheck source=zipf/fleet.sh
. "$ROOT/bench/zipf/fleet.sh"

SERVICES=300
RATE=500
DURATION=20s
WARMUP=3s
ALPHA=1.0
BUDGET=80M # resident guest memory: ~240 of the 300 VMs (~345 KiB each); the Zipf tail is swapped
MEM=4M      # guest memory of each VM (it touches ~300 KiB of it)
OBJECT=2258
WORKERS=
OUT=$FLEET_BUILD/demo
SWAP=1

usage() {
	cat <<EOF
usage: bench/demo.sh [OPTIONS]
The main job: N httpd VMs in one denalid serve, Zipf(alpha) open-loop HTTP load, a summary.
  --services N     VMs, one web service each (default $SERVICES)
  --rate R         offered requests/s, Poisson arrivals (default $RATE)
  --duration D     measured load, e.g. 20s, 2m (default $DURATION; a ${WARMUP} warm-up before)
  --alpha A        Zipf exponent of service popularity (default $ALPHA)
  --budget SIZE    resident guest memory allowed (swap beyond it; default $BUDGET)
  --mem SIZE       guest memory per VM (default $MEM)
  --object BYTES   size of the object served (default $OBJECT, Denali's)
  --workers N      daemon worker threads (default: one per CPU)
  --out DIR        where the plot and the raw results go (default $OUT)
  --no-swap        run without swap (every VM resident, no budget)
Needs root, /dev/kvm, /dev/net/tun; gnuplot for the plot.
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--services) SERVICES=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--alpha) ALPHA=$2; shift 2 ;;
	--budget) BUDGET=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--object) OBJECT=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--no-swap) SWAP=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
case $SERVICES in '' | *[!0-9]* | 0) echo "demo: --services must be a positive number" >&2; exit 2 ;; esac
case $OBJECT in '' | *[!0-9]* | 0) echo "demo: --object must be a positive number" >&2; exit 2 ;; esac
[ "$SERVICES" -le 60000 ] || { echo "demo: at most 60000 services (addresses)" >&2; exit 2; }

fleet_check || { echo "demo: cannot run here (see above)" >&2; exit 1; }
fleet_init || exit 1
trap fleet_cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# --- the daemon: a memory budget and swap (when denalid serve has them) --------------------
DAEMON=(--max-vms $((SERVICES + 16)))
[ -n "$WORKERS" ] && DAEMON+=(--workers "$WORKERS")
SWAP_NOTE=
if [ "$SWAP" = 1 ] && fleet_swap_supported; then
	mkdir -p "$FLEET_TMP/swap"
	# a 2 MiB slot for each VM (an httpd VM touches well under 1 MiB; the default 4 MiB slots
	# would preallocate twice the disk)
	DAEMON+=(--swap "$FLEET_TMP/swap" --mem-budget "$BUDGET" --swap-slot 2M
		--swap-size "$((2 * (SERVICES + 16)))M")
	SWAP_NOTE="swap on: resident guest memory budget $BUDGET, idle VMs swapped to $FLEET_TMP/swap"
elif [ "$SWAP" = 1 ]; then
	SWAP_NOTE="swap NOT active: this denalid serve has no --swap yet (issue 10), so every VM stays resident and the $BUDGET budget is not applied"
	SWAP=0
else
	SWAP_NOTE="swap off (--no-swap): every VM resident, no budget"
fi
echo "demo: $SERVICES services, Zipf alpha $ALPHA, $RATE req/s offered for $DURATION, ${OBJECT}-byte object"
echo "demo: $SWAP_NOTE"
echo "demo: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
fleet_daemon_start "${DAEMON[@]}" || exit 1

# --- the fleet ------------------------------------------------------------------------------
t0=$SECONDS
fleet_site "$FLEET_TMP/site" "$OBJECT"
fleet_disks "$SERVICES" "$FLEET_TMP/site"
fleet_start "$SERVICES" "$MEM" 16 || exit 1
echo "demo: $SERVICES VMs started and listening in $((SECONDS - t0)) s (own address and disk each)"

# --- the load -------------------------------------------------------------------------------
# Up to 8 connections per service (a popular one needs several: one HTTP/1.1 connection
# carries one request at a time), as httperf's many clients did.
LOAD=(-a "$ALPHA" -r "$RATE" -C $((SERVICES + 1024)) --conns-per-target 8 --timeout 5s -w 0)
# A warm-up run first (connections opened, the popular VMs swapped in), so that the counters
# below cover the measured run only.
fleet_load "${LOAD[@]}" -d "$WARMUP" -s 7 -q >"$FLEET_TMP/warmup.json" || true
: >"$OUT/samples.txt"
fleet_sampler_start "$OUT/samples.txt"
fleet_measure "$OUT/load" "${LOAD[@]}" -d "$DURATION" --hits "$OUT/hits.txt" --cdf "$OUT/cdf.txt" ||
	exit 1
fleet_sampler_stop

# --- the summary ----------------------------------------------------------------------------
L=$OUT/load.json
S=$OUT/load.after.json
echo
echo "== summary"
printf '  services        %s httpd VMs (%s guest memory each), one denalid serve\n' "$SERVICES" "$MEM"
printf '  requests        %s completed of %s scheduled (%s ok)\n' "$(jfield "$L" "d['completed']")" \
	"$(jfield "$L" "d['scheduled']")" "$(jfield "$L" "d['ok']")"
printf '  throughput      %s req/s (offered %s)\n' "$(jfield "$L" "round(d['throughput'], 1)")" "$RATE"
printf '  latency         p50 %s ms  p99 %s ms  p99.9 %s ms  (from the intended send time)\n' \
	"$(jfield "$L" "round(d['p50_ms'], 3)")" "$(jfield "$L" "round(d['p99_ms'], 3)")" \
	"$(jfield "$L" "round(d['p99_9_ms'], 3)")"
printf '  errors          %s failed (%s timeout, %s refused, %s connect, %s i/o, %s HTTP 4xx/5xx)\n' \
	"$(jfield "$L" "d['failures']")" "$(jfield "$L" "d['timeouts']")" "$(jfield "$L" "d['refused']")" \
	"$(jfield "$L" "d['conn_errors']")" "$(jfield "$L" "d['io_errors']")" "$(jfield "$L" "d['http_errors']")"
printf '  services hit    %s of %s\n' "$(awk '!/^#/ && $3 > 0' "$OUT/hits.txt" | wc -l)" "$SERVICES"
if [ "$SWAP" = 1 ]; then
	printf '  VMs             %s resident, %s swapped, %s swapped and waiting for their swap-in at the end\n' \
		"$(jfield "$L" "d['vms_resident']")" "$(jfield "$L" "d['vms_swapped']")" \
		"$(jfield "$S" "d['swap']['vms_waiting']")"
	printf '  memory          peak resident %s MiB of the %s budget (%s KiB per resident VM at the end)\n' \
		"$(jfield "$S" "d['swap']['peak_resident_bytes'] // 1048576")" "$BUDGET" \
		"$(jfield "$S" "d['swap']['resident_bytes'] // 1024 // max(1, d['swap']['vms_resident'])")"
	printf '  swap-ins        %s during the run (%s in all), %s swap-outs; swap-in p50 %s us, p99 %s us\n' \
		"$(jfield "$L" "d['swap_ins_run']")" "$(jfield "$S" "d['swap']['swap_ins']")" \
		"$(jfield "$S" "d['swap']['swap_outs']")" "$(jfield "$S" "d['swap']['swap_in_p50_us']")" \
		"$(jfield "$S" "d['swap']['swap_in_p99_us']")"
else
	printf '  VMs             %s resident, 0 swapped (swap not active)\n' "$(jfield "$L" "d['vms_resident']")"
	printf '  swap-ins        0 (swap not active)\n'
fi
printf '  exits/request   %s (VM exits during the run / requests completed)\n' \
	"$(jfield "$L" "round(d['exits_per_req'], 2)")"
printf '  CPU             denalid %s s user+system over %s s (%s cores); its RSS %s MiB\n' \
	"$(jfield "$L" "round(d['daemon_cpu_s'], 2)")" "$(jfield "$L" "round(d['wall_s'], 1)")" \
	"$(jfield "$L" "round(d['daemon_cores'], 2)")" "$(($(fleet_daemon_rss_kib) / 1024))"
printf '  machine         load average %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the plot -------------------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
	gnuplot -e "hits='$OUT/hits.txt'; cdf='$OUT/cdf.txt'; samples='$OUT/samples.txt';" \
		-e "out='$OUT/demo.png'; alpha=$ALPHA; n=$SERVICES; ttl='$SERVICES services, alpha $ALPHA, $RATE req/s'" \
		"$ROOT/bench/zipf/plots/demo.gp" && echo "  plot            $OUT/demo.png"
else
	echo "  plot            skipped: gnuplot is not installed"
fi
echo "  raw results     $OUT/{load.txt,load.json,load.after.json,hits.txt,cdf.txt,samples.txt}"
