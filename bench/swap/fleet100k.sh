#!/usr/bin/env bash
# bench/swap/fleet100k.sh: issue 10's 100,000-registered run, on a real `denalid serve --swap`.
#   bench/swap/fleet100k.sh BIN_DIR GUEST_DIR [N] [LIVE] [CHUNK] [RESTORE_N]
# Env: DIR (where the temp dir, the swap files and the state go; default /var/tmp: a disk),
#      BENCH_LOCK (a lock file, e.g. /work/bench.lock: each measured phase holds it, and
#      only that phase, so that no lock hold is long), SLOT (swap slot, default 256K),
#      FILES (swap files, default 4), WORKERS (default 2), REG_UNLOCKED=1 (the registration
#      requests do not take BENCH_LOCK: on a busy lock the run would otherwise wait for it
#      between every two requests; their rates are then not taken under it).
#
# 1. One daemon, --live-max LIVE (default 2000; the issue's cap is 9,000), swap slots for N.
#    N sleepers (2 MiB each, `sleeper 1000000 86400000`: idle for a day at a time; with 10-minute naps, 100,000 sleepers are 166 wake-ups, swap-ins and swap-outs a second: the run thrashed) are
#    registered with `start --count CHUNK` requests: VMs registered per second, per request.
#    Beyond LIVE every registration evicts the oldest idle VM (a group-committed swap-out).
# 2. With N registered and at most LIVE in memory: the daemon's idle CPU over 20 s, and at rest
#    (20 s windows until one is under 1%, at most 5 minutes; registration's leftovers given back).
# 3. Every VM swapped out (`swap out` of the resident ones): what N swapped VMs cost the
#    daemon, against the same daemon before the first registration: RSS and smaps_rollup
#    (user memory), fds, mappings, threads, and kernel memory: the system-wide slab total
#    (/proc/slabinfo, if readable) and Slab/PageTables/KernelStack of /proc/meminfo (both
#    include the rest of the machine: noisy on a shared host), per swapped VM.
# 4. A second daemon with RESTORE_N (default 10000) sleepers: SIGTERM, a restart, the time
#    until all RESTORE_N are listed again (restored in their slots), then until every one of
#    them has answered an event (`swap in`, 8 requests in parallel: each VM read back from
#    its slot and run).
# Prints one figure a line and a JSON line at the end. Figures, not assertions.
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR GUEST_DIR [N] [LIVE] [CHUNK] [RESTORE_N]}" && pwd)
GUESTS=$(cd "${2:?}" && pwd)
N=${3:-100000}
LIVE=${4:-2000}
CHUNK=${5:-10000}
RN=${6:-10000}
SLOT=${SLOT:-256K}
FILES=${FILES:-4}
WORKERS=${WORKERS:-2}
TMP=$(mktemp -d "${DIR:-/var/tmp}/denali-100k.XXXXXX") || exit 1
DPID=
cleanup() {
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		for _ in $(seq 600); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
[ -r /dev/kvm ] || { echo "needs /dev/kvm" >&2; exit 77; }

lock() { [ -n "${BENCH_LOCK:-}" ] && { exec 9>>"$BENCH_LOCK"; flock 9; }; return 0; }
unlock() { [ -n "${BENCH_LOCK:-}" ] && flock -u 9; return 0; }
now() { date +%s.%N; }
ctl() { "$BIN/denalictl" --socket "$TMP/d.sock" "$@"; }
say() { echo "fleet100k: $* (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }
stat_of() { ctl stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['swap']['$1'])"; }
# settled N: waits until N VMs are in (resident or swapped), none waits for admission and
# none is runnable or running: every one booted to its first idle. (vms_resident counts the
# admitted VMs from their admission: without the last part a request's rate counted VMs not
# booted yet, and the idle CPU below was taken while ~1,500 of them still booted: 51%.)
# Polled every 0.5 s: stats walks every registered VM under the registry's lock.
settled() {
	for _ in $(seq 2400); do
		kill -0 "$DPID" 2>/dev/null || { say "the daemon died: $(tail -2 "$TMP/d.log")"; exit 1; }
		ctl stats --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
s, v = d['swap'], d['vms_by_state']
sys.exit(0 if s['vms_waiting'] == 0 and v['runnable'] + v['running'] == 0 and
         s['vms_resident'] + s['vms_swapped'] >= $1 else 1)" && return 0
		sleep 0.5
	done
	return 1
}

daemon_start() {
	"$BIN/denalid" serve --socket "$TMP/d.sock" --state-dir "$TMP/state" --workers "$WORKERS" \
		--swap "$TMP/swap" --swap-files "$FILES" --swap-slot "$SLOT" \
		--swap-size "$(($1 * ${SLOT%K}))K" --live-max "$LIVE" >>"$TMP/d.log" 2>&1 &
	DPID=$!
	for _ in $(seq 600); do ctl list >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "the daemon did not come up:" >&2
	tail "$TMP/d.log" >&2
	exit 1
}
daemon_stop() {
	kill -TERM "$DPID"
	for _ in $(seq 3000); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	wait "$DPID" 2>/dev/null
	DPID=
}

# snapshot: key=value lines of what the daemon holds now
snapshot() {
	local p=$DPID
	echo "rss_kib=$(awk '/^VmRSS:/ {print $2}' /proc/$p/status)"
	echo "threads=$(awk '/^Threads:/ {print $2}' /proc/$p/status)"
	echo "pte_kib=$(awk '/^VmPTE:/ {print $2}' /proc/$p/status)"
	awk '/^(Rss|Pss|Anonymous|Private_Dirty):/ {gsub(":", "", $1); print "smaps_" $1 "_kib=" $2}' \
		/proc/$p/smaps_rollup
	echo "fds=$(ls /proc/$p/fd | wc -l)"
	echo "kvm_vm_fds=$(ls -l /proc/$p/fd 2>/dev/null | grep -c 'kvm-vm')"
	echo "maps=$(wc -l </proc/$p/maps)"
	echo "cpu_ticks=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' /proc/$p/stat)"
	if [ -r /proc/slabinfo ]; then
		echo "slab_bytes=$(awk 'NR > 2 {s += $3 * $4} END {printf "%d", s}' /proc/slabinfo)"
	fi
	awk '/^(Slab|SUnreclaim|PageTables|KernelStack):/ {gsub(":", "", $1); print "mi_" $1 "_kib=" $2}' \
		/proc/meminfo
}
val() { sed -n "s/^$2=//p" "$1"; }
# threads: "tid name ticks" lines, sorted by tid (for join)
threads() {
	for t in /proc/$DPID/task/*; do
		awk -v tid="${t##*/}" '{n = $2; sub(/^.*\) /, ""); print tid, n, $12 + $13}' "$t/stat" 2>/dev/null
	done | sort -k1,1
}

# --- 1. registration ---------------------------------------------------------------------
daemon_start "$N"
sleep 1
snapshot >"$TMP/s0"
say "daemon up, $N slots of $SLOT in $FILES files, live-max $LIVE"
reg_total=0
: >"$TMP/rates"
for ((c = 0; c * CHUNK < N; c++)); do
	n=$((N - c * CHUNK < CHUNK ? N - c * CHUNK : CHUNK))
	[ "${REG_UNLOCKED:-0}" = 1 ] || lock
	t0=$(now)
	ctl start "r$c" "$GUESTS/sleeper" --count "$n" --mem 2M -- 1000000 86400000 >/dev/null \
		2>"$TMP/err" || { say "start r$c failed: $(tail -1 "$TMP/err")"; unlock; break; }
	# registered = booted to its first idle (resident) or swapped out since
	settled $((reg_total + n)) || say "r$c: not settled"
	t1=$(now)
	[ "${REG_UNLOCKED:-0}" = 1 ] || unlock
	reg_total=$((reg_total + n))
	r=$(echo "$n / ($t1 - $t0)" | bc -l)
	echo "$r" >>"$TMP/rates"
	say "$(printf 'request %d: %d VMs in %.1f s, %.0f registered/s; %d registered; resident %s, swap-outs %s' \
		"$c" "$n" "$(echo "$t1 - $t0" | bc -l)" "$r" "$reg_total" "$(stat_of vms_resident)" \
		"$(stat_of swap_outs)")"
done
reg_rate=$(sort -n "$TMP/rates" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
registered=$(ctl list --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
say "registered: $registered of $N, median $reg_rate/s per request$([ "${REG_UNLOCKED:-0}" = 1 ] && echo ' (NOT under the bench lock)')"

# what the swapper's locks and rounds did meanwhile (stats: io_lock_*, pumps, deadline_rounds)
swapstats() {
	ctl stats --json | python3 -c "
import json, sys
s = json.load(sys.stdin)['swap']
print(' '.join('%s=%s' % (k, s.get(k, '-')) for k in ('swap_outs', 'swap_ins', 'io_lock_waits',
      'io_lock_wait_us', 'io_lock_held_us', 'pumps', 'pump_actions', 'deadline_rounds')))"
}
say "swapper after registration: $(swapstats)"

# --- 2. idle CPU with N registered -----------------------------------------------------------
settled "$reg_total"
lock
sleep 2
snapshot >"$TMP/s1a"
threads >"$TMP/t1a"
say "swapper before the idle 20 s: $(swapstats)"
sleep 20
snapshot >"$TMP/s1b"
threads >"$TMP/t1b"
say "swapper after the idle 20 s: $(swapstats)"
unlock
hz=$(getconf CLK_TCK)
idle_cpu=$(echo "($(val "$TMP/s1b" cpu_ticks) - $(val "$TMP/s1a" cpu_ticks)) / $hz / 20 * 100" | bc -l)
resident=$(stat_of vms_resident)
say "$(printf 'idle: %.2f%% of a core over 20 s with %s registered, %s resident (live-max %s)' \
	"$idle_cpu" "$registered" "$resident" "$LIVE")"
# which threads: ticks over the 20 s, by thread name (threads with none left out)
idle_threads=$(join -j 1 "$TMP/t1a" "$TMP/t1b" | awk -v hz="$hz" '$5 > $3 {
	printf "%s%s %.2f%%", sep, $2, ($5 - $3) / hz / 20 * 100; sep = ", " }')
say "idle CPU by thread: ${idle_threads:-none}"
# The first 20 s follow the last registration: what it left to give back (fleet_trim.c) is
# given back then. At rest: further 20 s windows until one is under 1% of a core (at most 15:
# 5 minutes), the daemon's CPU and its busiest thread in the last.
idle_rest=$idle_cpu rest_after=0 rest_threads=$idle_threads
for w in $(seq 15); do
	[ "$(echo "$idle_rest < 1" | bc -l)" = 1 ] && break
	snapshot >"$TMP/s1c"
	threads >"$TMP/t1c"
	sleep 20
	snapshot >"$TMP/s1d"
	threads >"$TMP/t1d"
	idle_rest=$(echo "($(val "$TMP/s1d" cpu_ticks) - $(val "$TMP/s1c" cpu_ticks)) / $hz / 20 * 100" | bc -l)
	rest_after=$((w * 20))
	rest_threads=$(join -j 1 "$TMP/t1c" "$TMP/t1d" | awk -v hz="$hz" '$5 > $3 {
		printf "%s%s %.2f%%", sep, $2, ($5 - $3) / hz / 20 * 100; sep = ", " }')
done
say "$(printf 'idle at rest: %.2f%% of a core over the 20 s window ending %d s after the first; by thread: %s' \
	"$idle_rest" "$((rest_after + 20))" "${rest_threads:-none}")"
# the operator's view of the whole fleet, timed (median of 3 each)
timed() {
	for _ in 1 2 3; do
		t0=$(now)
		ctl "$@" >"$TMP/out" || { echo -1; return; }
		echo "$(now) - $t0" | bc -l
	done | sort -n | sed -n 2p
}
lock
list_s=$(timed list)
list_lines=$(($(wc -l <"$TMP/out") - 1))
list_json_s=$(timed list --json)
list_json_n=$(python3 -c "import json,sys; print(len(json.load(open('$TMP/out'))))")
list_json_bytes=$(wc -c <"$TMP/out")
# What a list costs the other clients: `jobs` (it walks no VM) asked every 0.1 s by a second
# client while a `list --json` is being written; the slowest answer (before ctl/server_list
# the loop built the whole list in one go: nothing else was answered meanwhile).
ctl list --json >/dev/null &
lpid=$!
jobs_max=0 jobs_n=0
while kill -0 "$lpid" 2>/dev/null; do
	t0=$(now)
	ctl jobs >/dev/null || break
	jobs_max=$(echo "d = $(now) - $t0; if (d > $jobs_max) d else $jobs_max" | bc -l)
	jobs_n=$((jobs_n + 1))
	sleep 0.1
done
wait "$lpid"
unlock
say "$(printf 'list: %.2f s for %d lines; list --json: %.2f s for %d VMs (%d bytes); medians of 3' \
	"$list_s" "$list_lines" "$list_json_s" "$list_json_n" "$list_json_bytes")"
say "$(printf 'jobs asked %d times while a list --json was written: slowest answer %.3f s' \
	"$jobs_n" "$jobs_max")"

# --- 3. every VM swapped out: its cost --------------------------------------------------------
kvm_idle=$(val "$TMP/s1b" kvm_vm_fds)
# A swap request holds the control loop for at most its budget (ops.c) and answers the
# rest "not tried: ask again": asked again until none is resident (or 50 rounds).
for round in $(seq 50); do
	ctl list --json | python3 -c "
import json, sys
for v in json.load(sys.stdin):
    if v.get('residency') == 'resident': print(v['name'])" >"$TMP/res"
	[ -s "$TMP/res" ] || break
	rm -f "$TMP"/res.*
	split -l 500 "$TMP/res" "$TMP/res."
	for f in "$TMP"/res.*; do ctl swap out $(cat "$f") >/dev/null 2>>"$TMP/err"; done
done
say "swap out of the resident ones: $((round - 1)) round(s), $(wc -l <"$TMP/res") still resident"
lock
# The daemon gives freed heap, idle page tables and unused pooled shells back every 10 s at
# most, less often while that is costly (its log thread, fleet_trim.c): what the swapped VMs
# cost is what it holds at rest, once its RSS and shells have not fallen for 30 s (at most
# 5 minutes).
prev= still=0 waited=0
for _ in $(seq 30); do
	sleep 10
	waited=$((waited + 10))
	snapshot >"$TMP/s2"
	cur="$(val "$TMP/s2" rss_kib) $(val "$TMP/s2" kvm_vm_fds)"
	if [ "$cur" = "$prev" ] || { [ -n "$prev" ] && [ "${cur%% *}" -ge "${prev%% *}" ] &&
		[ "${cur##* }" -ge "${prev##* }" ]; }; then
		still=$((still + 10))
		[ "$still" -ge 30 ] && break
	else
		still=0
	fi
	prev=$cur
done
say "at rest after $waited s (RSS $(val "$TMP/s2" rss_kib) KiB, $(val "$TMP/s2" kvm_vm_fds) KVM VMs)"
swapped=$(stat_of vms_swapped)
unlock
per() { echo "($(val "$TMP/s2" "$1") - $(val "$TMP/s0" "$1")) * ${2:-1} / $swapped" | bc -l; }
rss_b=$(per rss_kib 1024)
pss_b=$(per smaps_Pss_kib 1024)
anon_b=$(per smaps_Anonymous_kib 1024)
fds_d=$(($(val "$TMP/s2" fds) - $(val "$TMP/s0" fds)))
maps_d=$(($(val "$TMP/s2" maps) - $(val "$TMP/s0" maps)))
thr_d=$(($(val "$TMP/s2" threads) - $(val "$TMP/s0" threads)))
slab_b=0
[ -n "$(val "$TMP/s0" slab_bytes)" ] && slab_b=$(per slab_bytes 1)
mslab_b=$(per mi_Slab_kib 1024)
pt_b=$(per mi_PageTables_kib 1024)
vmpte_b=$(per pte_kib 1024)
say "KVM VMs (shells, live and pooled) held by the daemon: $kvm_idle with $resident resident, $(val "$TMP/s2" kvm_vm_fds) with all swapped"
say "$(printf '%s swapped: per VM RSS %.0f B, Pss %.0f B, anon %.0f B; fds %+d, mappings %+d, threads %+d (whole daemon); kernel: slabinfo %.0f B, meminfo Slab %.0f B, PageTables %.0f B per VM (system-wide); the daemon'"'"'s own page tables (VmPTE) %.0f B per VM' \
	"$swapped" "$rss_b" "$pss_b" "$anon_b" "$fds_d" "$maps_d" "$thr_d" "$slab_b" "$mslab_b" "$pt_b" "$vmpte_b")"
t0=$(now)
daemon_stop
stop_s=$(echo "$(now) - $t0" | bc -l)
say "$(printf 'SIGTERM with %s registered: %.1f s; %s' "$registered" "$stop_s" \
	"$(grep -o 'shutdown: .*' "$TMP/d.log" | tail -1)")"
rm -rf "$TMP/state" "$TMP/swap" "$TMP/d.sock"

# --- 4. restore of RESTORE_N after a restart --------------------------------------------------
# RESTORE_N 0: skipped (the body is not indented under the if, to keep its history)
restored_s=0 answered_s=0 resumed=0 fails=0
if [ "$RN" -gt 0 ]; then
: >"$TMP/d.log"
daemon_start "$RN"
for ((c = 0; c * CHUNK < RN; c++)); do
	n=$((RN - c * CHUNK < CHUNK ? RN - c * CHUNK : CHUNK))
	ctl start "f$c" "$GUESTS/sleeper" --count "$n" --mem 2M -- 1000000 86400000 >/dev/null || exit 1
done
settled "$RN"
ctl list --json | python3 -c "
import json, sys
for v in json.load(sys.stdin): print(v['name'])" >"$TMP/names"
daemon_stop
lock
t0=$(now)
daemon_start "$RN"
for _ in $(seq 1200); do
	got=$(ctl list --json 2>/dev/null | python3 -c "import json,sys; print(len(json.load(sys.stdin)))" 2>/dev/null)
	[ "${got:-0}" -ge "$RN" ] && break
	sleep 0.1
done
t1=$(now)
split -n l/8 "$TMP/names" "$TMP/names."
pids=()
for f in "$TMP"/names.*; do
	ctl swap in $(cat "$f") >/dev/null 2>>"$TMP/in.err" &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t2=$(now)
unlock
restored_s=$(echo "$t1 - $t0" | bc -l)
answered_s=$(echo "$t2 - $t0" | bc -l)
resumed=$(grep -c "resumed from its swap slot" "$TMP/d.log")
ins=$(stat_of swap_ins)
say "$(printf 'restart with %s: all listed after %.2f s (%s resumed from their slots), every one answered (swap in: %s swap-ins, %d request(s) failed) after %.2f s' \
	"$RN" "$restored_s" "$resumed" "$ins" "$fails" "$answered_s")"
[ -s "$TMP/in.err" ] && say "swap in errors: $(sort "$TMP/in.err" | uniq -c | sort -rn | head -3)"
fi
printf '{"bench":"fleet100k","n":%d,"registered":%d,"live_max":%d,"slot":"%s","files":%d,"registered_per_s_median":%.1f,"idle_cpu_pct":%.3f,"resident_at_idle":%s,"swapped":%s,"rss_bytes_per_swapped_vm":%.0f,"pss_bytes_per_swapped_vm":%.0f,"anon_bytes_per_swapped_vm":%.0f,"fds_delta":%d,"mappings_delta":%d,"threads_delta":%d,"slabinfo_bytes_per_vm":%.0f,"meminfo_slab_bytes_per_vm":%.0f,"pagetables_bytes_per_vm":%.0f,"vmpte_bytes_per_vm":%.0f,"kvm_vms_all_swapped":%s,"sigterm_s":%.2f,"restore_n":%d,"restore_listed_s":%.2f,"restore_resumed":%d,"restore_answered_s":%.2f,"restore_swap_in_failures":%d,"idle_threads":"%s","list_s":%.2f,"list_json_s":%.2f,"list_json_vms":%d,"jobs_during_list_max_s":%.3f,"idle_cpu_rest_pct":%.3f,"idle_rest_after_s":%d,"rest_wait_s":%d,"load":"%s"}\n' \
	"$N" "$registered" "$LIVE" "$SLOT" "$FILES" "$reg_rate" "$idle_cpu" "$resident" "$swapped" \
	"$rss_b" "$pss_b" "$anon_b" "$fds_d" "$maps_d" "$thr_d" "$slab_b" "$mslab_b" "$pt_b" "$vmpte_b" "$(val "$TMP/s2" kvm_vm_fds)" "$stop_s" \
	"$RN" "$restored_s" "$resumed" "$answered_s" "$fails" "$idle_threads" "$list_s" "$list_json_s" \
	"$list_json_n" "$jobs_max" "$idle_rest" "$rest_after" "$waited" "$(cut -d' ' -f1-3 /proc/loadavg)"
