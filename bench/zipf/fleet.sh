# bench/zipf/fleet.sh - the httpd fleet in a network namespace of its own (sourced, not run).
#
# Shared by bench/demo.sh (the main job), bench/zipf/series.sh and tests/integration/zipf.sh:
# a namespace with a tap on 198.18.0.0/15, one `denalid serve` on it (ended by its pid), N httpd
# VMs each with its own address and its own rofs content disk, the targets file denali-load
# reads (rank k = VM svc-(k-1)), the daemon's counters, and the nginx-with-virtual-hosts peer.
#
# Usage: FLEET_BUILD=build; . bench/zipf/fleet.sh; fleet_check || exit; fleet_init;
#        trap fleet_cleanup EXIT; fleet_daemon_start [serve options]; fleet_start N ...
# Every function returns non-zero with a message on stderr when something failed.

FLEET_BUILD=${FLEET_BUILD:-build}
FLEET_BIN=${FLEET_BIN:-$FLEET_BUILD/bin}
FLEET_GUESTS=${FLEET_GUESTS:-$FLEET_BUILD/guests}
FLEET_PREFIX=198.18.0.0/15 # the switch's; the tap (the gateway) is 198.18.0.1
FLEET_GW=198.18.0.1
FLEET_NS=
FLEET_TAP=
FLEET_TMP=
FLEET_DPID=
FLEET_NGINX_PID=
FLEET_SAMPLER_PID=
# FLEET_NICE N (e.g. -10): the daemon, the nginx peer and denali-load all run at nice N (each
# started under nice(1); threads inherit it), so on a machine shared with other work both
# servers and the client get the same head start over it. Unset: no nice at all.
FLEET_NICE=${FLEET_NICE:-}

fleet_log() { echo "${FLEET_NAME:-fleet}: $*" >&2; }

# fleet_check: 0 when this machine can run the fleet; else prints why and returns 1.
fleet_check() {
	local why=
	if [ "$(id -u)" -ne 0 ]; then
		why="needs root (a network namespace and a tap)"
	elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		why="/dev/kvm is missing or not accessible"
	elif [ ! -c /dev/net/tun ]; then
		why="/dev/net/tun is missing"
	elif ! command -v ip >/dev/null || ! command -v python3 >/dev/null; then
		why="needs ip(8) and python3"
	elif [ ! -x "$FLEET_BIN/denalid" ] || [ ! -x "$FLEET_BIN/denali-load" ] ||
		[ ! -x "$FLEET_GUESTS/httpd" ]; then
		why="denalid, denali-load or the httpd guest is not built in $FLEET_BUILD"
	fi
	[ -z "$why" ] && return 0
	echo "$why" >&2
	return 1
}

# fleet_swap_supported: 0 when `denalid serve` takes --swap (issue 10's gatekeeper in serve).
fleet_swap_supported() {
	"$FLEET_BIN/denalid" serve --help 2>&1 | grep -q -- '--swap DIR'
}

fleet_ns() { ip netns exec "$FLEET_NS" "$@"; }

# fleet_nice_ns CMD...: CMD in the namespace at FLEET_NICE, in the foreground. Not for a
# background job whose pid is wanted: `fleet_nice_ns ... &` forks a subshell and $! is its pid,
# not CMD's; those use FLEET_NICE_ARGV (below) on an `ip netns exec` line of their own.
fleet_nice_ns() { ip netns exec "$FLEET_NS" "${FLEET_NICE_ARGV[@]}" "$@"; }

# fleet_nice_argv: FLEET_NICE_ARGV = (nice -n N) when FLEET_NICE is set, else empty; called
# when this file is sourced, and by whatever sets FLEET_NICE after that (series.sh --nice).
fleet_nice_argv() {
	FLEET_NICE_ARGV=()
	[ -z "$FLEET_NICE" ] || FLEET_NICE_ARGV=(nice -n "$FLEET_NICE")
}
FLEET_NICE_ARGV=()
fleet_nice_argv

# fleet_init: a temp dir and the namespace (name and tap unique to this shell's pid).
fleet_init() {
	FLEET_TMP=$(mktemp -d /tmp/denali-zipf.XXXXXX) || return 1
	chmod 755 "$FLEET_TMP" # nginx's workers run unprivileged
	FLEET_NS=denali-zipf-$$
	FLEET_TAP=dzipf$$
	ip netns add "$FLEET_NS" || { FLEET_NS=; fleet_log "cannot create a network namespace"; return 1; }
	ip -n "$FLEET_NS" link set lo up
	ip -n "$FLEET_NS" tuntap add dev "$FLEET_TAP" mode tap || return 1
	ip -n "$FLEET_NS" addr add "$FLEET_GW/15" dev "$FLEET_TAP"
	ip -n "$FLEET_NS" link set "$FLEET_TAP" up
	ip -n "$FLEET_NS" route add local 198.19.128.0/17 dev lo
	# Thousands of neighbours and connections; no IPv6 chatter on the switch.
	fleet_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		net.ipv4.neigh.default.gc_thresh1=200000 net.ipv4.neigh.default.gc_thresh2=200000 \
		net.ipv4.neigh.default.gc_thresh3=200000 net.core.somaxconn=16384 \
		net.ipv4.tcp_max_syn_backlog=16384 net.ipv4.ip_local_port_range="1024 65000" \
		>/dev/null 2>&1 || true
}

# fleet_cleanup: ends what this shell started (sampler, nginx, daemon: by pid), deletes the
# namespace and the temp dir. Safe to call twice.
fleet_cleanup() {
	set +e # a cleanup step that fails must not skip the others
	fleet_sampler_stop
	fleet_nginx_stop
	fleet_daemon_stop
	[ -n "$FLEET_NS" ] && { ip netns del "$FLEET_NS" 2>/dev/null || true; }
	FLEET_NS=
	[ -n "$FLEET_TMP" ] && rm -rf "$FLEET_TMP"
	FLEET_TMP=
	return 0
}

# --- the daemon ---------------------------------------------------------------------------

fleet_ctl() { "$FLEET_BIN/denalictl" --socket "$FLEET_TMP/d.sock" "$@"; }

# fleet_daemon_start [OPTIONS...]: denalid serve in the namespace, on the tap, with OPTIONS
# (memory budget, swap, workers); waits until it answers (30 s at most).
fleet_daemon_start() {
	mkdir -p "$FLEET_TMP/state"
	# ip netns exec (and nice) exec denalid itself, so $! is the daemon's pid.
	ip netns exec "$FLEET_NS" "${FLEET_NICE_ARGV[@]}" "$FLEET_BIN/denalid" serve --socket "$FLEET_TMP/d.sock" \
		--state-dir "$FLEET_TMP/state" --net "$FLEET_PREFIX" --tap "$FLEET_TAP" "$@" \
		>>"$FLEET_TMP/denalid.log" 2>&1 &
	FLEET_DPID=$!
	local end=$((SECONDS + 30))
	while [ $SECONDS -lt $end ]; do
		timeout 5 "$FLEET_BIN/denalictl" --socket "$FLEET_TMP/d.sock" list >/dev/null 2>&1 &&
			return 0
		kill -0 "$FLEET_DPID" 2>/dev/null || break
		sleep 0.2
	done
	fleet_log "denalid serve did not come up; its log:"
	tail -n 20 "$FLEET_TMP/denalid.log" >&2
	return 1
}

# fleet_daemon_stop: SIGTERM to our daemon, SIGKILL after 30 s; its state dir is removed so a
# next start begins empty.
fleet_daemon_stop() {
	[ -n "$FLEET_DPID" ] || return 0
	local p=$FLEET_DPID
	FLEET_DPID=
	kill -TERM "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
	for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	[ -n "$FLEET_TMP" ] && rm -rf "$FLEET_TMP/state" "$FLEET_TMP/d.sock" "$FLEET_TMP/swap"
	return 0
}

# fleet_daemon_cpu: the daemon's user+system CPU so far, in seconds (/proc/PID/stat).
fleet_daemon_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
		"/proc/$FLEET_DPID/stat"
}

# fleet_daemon_rss_kib: the daemon's resident set (VmRSS) in KiB.
fleet_daemon_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$FLEET_DPID/status"; }

# --- content and VMs ----------------------------------------------------------------------

# fleet_site DIR BYTES: the site every service serves: /obj.html of BYTES bytes, an index.
fleet_site() {
	mkdir -p "$1"
	head -c "$2" /dev/zero | tr '\0' 'x' >"$1/obj.html"
	echo "<!doctype html><title>denali zipf service</title>" >"$1/index.html"
}

# fleet_disks N SITE_DIR: $FLEET_TMP/disks/svc-I.img for I in 0..N-1, each VM its own image
# (one denali-mkfs, then copies: tee writes a thousand at a time).
fleet_disks() {
	local n=$1 site=$2 d=$FLEET_TMP/disks
	mkdir -p "$d"
	"$FLEET_BIN/denali-mkfs" -q "$site" "$d/template.img" || return 1
	seq 0 $((n - 1)) | sed "s|.*|$d/svc-&.img|" |
		xargs -n 1000 sh -c 'tee "$@" <"$0" >/dev/null' "$d/template.img"
}

# FLEET_HTTPD_FLAGS: words put before httpd's arguments (bench/isolation/ablate.sh: --poll).
# fleet_start N MEM CONNS: starts httpd VMs svc-0..svc-(N-1) (guest memory MEM, CONNS
# connections each) with their own disk, waits until every one is listening (idle, or
# swapped out), writes $FLEET_TMP/targets (line k = the address of svc-(k-1), the Zipf rank
# order) and adds a permanent neighbour entry for each VM in the namespace (so Linux does
# not flood the switch with an ARP broadcast per VM).
# FLEET_START_JOBS: how many denalictl starts run at once (default 1, in order); each start
# is a job of its own that makes its definition durable (an fsync), so a big fleet comes up
# faster with several at once.
fleet_start() {
	local n=$1 mem=$2 conns=$3 i
	if [ "${FLEET_START_JOBS:-1}" -gt 1 ]; then
		seq 0 $((n - 1)) | xargs -P "$FLEET_START_JOBS" -I{} "$FLEET_BIN/denalictl" \
			--socket "$FLEET_TMP/d.sock" start "svc-{}" "$FLEET_GUESTS/httpd" --mem "$mem" \
			--net --disk "$FLEET_TMP/disks/svc-{}.img" --disk-ro -- ${FLEET_HTTPD_FLAGS:-} 80 \
			"$conns" >/dev/null || { fleet_log "a denalictl start failed"; return 1; }
	fi
	for ((i = 0; i < n && ${FLEET_START_JOBS:-1} <= 1; i++)); do
		fleet_ctl start "svc-$i" "$FLEET_GUESTS/httpd" --mem "$mem" --net \
			--disk "$FLEET_TMP/disks/svc-$i.img" --disk-ro -- ${FLEET_HTTPD_FLAGS:-} 80 \
			"$conns" >/dev/null ||
			{ fleet_log "denalictl start svc-$i failed"; return 1; }
	done
	fleet_wait_listening "$n" || return 1
	fleet_targets "$n"
}

# fleet_targets N: (re)writes $FLEET_TMP/targets and the neighbour entries from the daemon's
# list, for svc-0..svc-(N-1) (a service stopped and started again has a new id and address).
fleet_targets() {
	local n=$1
	fleet_ctl list --json >"$FLEET_TMP/list.json" || return 1
	python3 - "$FLEET_TMP/list.json" "$n" "$FLEET_TMP/targets.new" "$FLEET_TMP/neigh" \
		"$FLEET_TAP" <<'PY' || return 1
import json, sys
vms = {v["name"]: v for v in json.load(open(sys.argv[1]))}
n = int(sys.argv[2])
with open(sys.argv[3], "w") as t, open(sys.argv[4], "w") as nb:
    for i in range(n):
        v = vms.get("svc-%d" % i)
        if not v or not v.get("ipv4"):
            sys.exit("fleet: svc-%d has no address" % i)
        t.write("%s:80/obj.html\n" % v["ipv4"])
        mac = ":".join("%02x" % b for b in [2, 0xde] + list(v["id"].to_bytes(4, "big")))
        nb.write("neigh replace %s lladdr %s dev %s nud permanent\n" % (v["ipv4"], mac, sys.argv[5]))
PY
	fleet_ns ip -batch "$FLEET_TMP/neigh" || return 1
	mv -f "$FLEET_TMP/targets.new" "$FLEET_TMP/targets" # whole, for a loader starting now
}

# fleet_wait_listening N: until N VMs have printed "listening" on their console (the daemon
# keeps it in STATE/vms/NAME/console.log), 10 min at most. A VM that failed ends the wait.
fleet_wait_listening() {
	local n=$1 end=$((SECONDS + 600)) up=0 bad
	while [ $SECONDS -lt $end ]; do
		up=$(cat "$FLEET_TMP"/state/vms/svc-*/console.log 2>/dev/null | grep -c "listening on port")
		[ "$up" -ge "$n" ] && return 0
		bad=$(grep -l "no network\|cannot listen\|usage:" "$FLEET_TMP"/state/vms/svc-*/console.log \
			2>/dev/null | head -n 1)
		if [ -n "$bad" ]; then
			fleet_log "a VM failed to serve: $bad:"
			cat "$bad" >&2
			return 1
		fi
		sleep 0.5
	done
	fleet_log "only $up of $n VMs came up in 10 min"
	return 1
}

# fleet_load ARGS...: denali-load over the fleet's targets, from inside the namespace.
fleet_load() { fleet_nice_ns "$FLEET_BIN/denali-load" -T "$FLEET_TMP/targets" "$@"; }

# fleet_load_peer ARGS...: denali-load over the nginx peer's targets.
fleet_load_peer() { fleet_nice_ns "$FLEET_BIN/denali-load" -T "$FLEET_TMP/peer-targets" "$@"; }

# fleet_stats FILE: the daemon's `stats --json` into FILE.
fleet_stats() { fleet_ctl stats --json >"$1"; }

# fleet_measure PREFIX ARGS...: one measured denali-load run over the fleet (ARGS: rate, alpha,
# duration, outputs), with the daemon's counters read just before and after it. Writes
# PREFIX.txt (denali-load's output) and PREFIX.json: denali-load's JSON plus "exits_per_req",
# "daemon_cpu_s", "daemon_cores", "swap_ins_run" and the "swap" object at the end (when
# serve has swap), "vms_resident", "vms_swapped".
fleet_measure() {
	local pre=$1 cpu0 cpu1
	shift
	fleet_stats "$pre.before.json" || return 1
	cpu0=$(fleet_daemon_cpu)
	fleet_load "$@" >"$pre.txt" || { fleet_log "denali-load failed:"; tail -n 3 "$pre.txt" >&2; return 1; }
	cpu1=$(fleet_daemon_cpu)
	fleet_stats "$pre.after.json" || return 1
	python3 - "$pre" "$cpu0" "$cpu1" <<'PY'
import json, sys
pre = sys.argv[1]
load = json.loads(open(pre + ".txt").read().strip().splitlines()[-1])
a, b = (json.load(open(pre + s)) for s in (".before.json", ".after.json"))
ex = lambda d: d["totals"]["counters"]["exits"]
cpu = float(sys.argv[3]) - float(sys.argv[2])
load["exits_per_req"] = (ex(b) - ex(a)) / max(1, load["completed"])
load["daemon_cpu_s"] = cpu
load["daemon_cores"] = cpu / max(1e-9, load["wall_s"])
sw = b.get("swap")
if sw:
    load["swap"] = sw
    load["swap_ins_run"] = sw["swap_ins"] - a["swap"]["swap_ins"]
    load["vms_resident"], load["vms_swapped"] = sw["vms_resident"], sw["vms_swapped"]
else:
    st = b["vms_by_state"]
    load["vms_resident"] = st["runnable"] + st["running"] + st["idle"]
    load["vms_swapped"] = 0
    load["swap_ins_run"] = 0
json.dump(load, open(pre + ".json", "w"))
PY
}

# jfield FILE EXPR: a Python expression on the JSON in FILE as d (None prints as "-").
jfield() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
try:
    v = eval(sys.argv[2])
except (KeyError, IndexError, TypeError):
    v = None
print("-" if v is None else v)' "$1" "$2"
}

# --- a sampler of the daemon's counters during a run --------------------------------------

# fleet_sampler_start FILE: every second, one line "t_s cpu_s resident swapped exits" to FILE.
fleet_sampler_start() {
	local out=$1
	(
		t0=$(date +%s.%N)
		while kill -0 "$FLEET_DPID" 2>/dev/null; do
			if fleet_ctl stats --json >"$out.json" 2>/dev/null; then
				python3 - "$out.json" "$(date +%s.%N)" "$t0" \
					"$(fleet_daemon_cpu 2>/dev/null || echo 0)" >>"$out" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
s = d.get("swap") or {}
st = d.get("vms_by_state", {})
res = s.get("vms_resident", sum(st.get(k, 0) for k in ("runnable", "running", "idle")))
print("%.1f %s %d %d %d" % (float(sys.argv[2]) - float(sys.argv[3]), sys.argv[4], res,
      s.get("vms_swapped", 0), d.get("totals", {}).get("counters", {}).get("exits", 0)))
PY
			fi
			sleep 1
		done
	) &
	FLEET_SAMPLER_PID=$!
}

fleet_sampler_stop() {
	[ -n "$FLEET_SAMPLER_PID" ] || return 0
	kill "$FLEET_SAMPLER_PID" 2>/dev/null || true
	wait "$FLEET_SAMPLER_PID" 2>/dev/null || true
	FLEET_SAMPLER_PID=
	return 0
}

# --- the peer: one nginx with a virtual host per service ----------------------------------

# fleet_nginx_start N SITE_DIR WORKERS: nginx (Debian's) in the namespace with N virtual hosts,
# host I on $FLEET_PEER_BASE... address I+1 with its own root (a copy of SITE_DIR); writes
# $FLEET_TMP/peer-targets in the same rank order. Its own config, pid file, logs, temp dirs.
fleet_nginx_start() {
	local n=$1 site=$2 workers=$3 d=$FLEET_TMP/nginx i a
	command -v nginx >/dev/null || { fleet_log "nginx is not installed (nginx-light)"; return 1; }
	[ "$n" -le 32000 ] || { fleet_log "the peer takes at most 32000 hosts"; return 1; }
	rm -rf "$d"
	mkdir -p "$d/tmp" "$d/www"
	: >"$FLEET_TMP/peer-targets"
	{
		echo "worker_processes $workers; worker_rlimit_nofile $((2 * n + 20000));"
		echo "pid $d/nginx.pid; error_log $d/error.log;"
		echo "events { worker_connections $((n + 4096)); }"
		echo "http { access_log off; keepalive_requests 1000000; keepalive_timeout 120s;"
		echo "  server_names_hash_bucket_size 128;"
		for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $d/tmp;"; done
		for ((i = 0; i < n; i++)); do
			a=$(fleet_peer_addr "$i")
			mkdir -p "$d/www/s$i"
			cp "$site"/* "$d/www/s$i/"
			echo "  server { listen $a:80 backlog=4096; root $d/www/s$i; }"
			echo "$a:80/obj.html" >>"$FLEET_TMP/peer-targets"
		done
		echo "}"
	} >"$d/nginx.conf"
	chmod -R a+rX "$d/www"
	fleet_nice_ns nginx -c "$d/nginx.conf" -e "$d/error.log" || {
		fleet_log "nginx did not start:"
		tail -n 5 "$d/error.log" >&2
		return 1
	}
	for _ in $(seq 100); do [ -s "$d/nginx.pid" ] && break; sleep 0.1; done
	FLEET_NGINX_PID=$(cat "$d/nginx.pid" 2>/dev/null)
	[ -n "$FLEET_NGINX_PID" ] || { fleet_log "nginx wrote no pid file"; return 1; }
}

# fleet_peer_addr I: the peer's address for service I (198.19.128.0/17, local in the netns).
fleet_peer_addr() {
	local k=$(($1 + 1))
	echo "198.19.$((128 + k / 256)).$((k % 256))"
}

# fleet_nginx_stop: ends our nginx master (by its pid; it ends its workers).
fleet_nginx_stop() {
	[ -n "$FLEET_NGINX_PID" ] || return 0
	local p=$FLEET_NGINX_PID
	FLEET_NGINX_PID=
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	return 0
}

# fleet_nginx_cpu: user+system CPU of our nginx master and its workers, in seconds.
fleet_nginx_cpu() {
	local hz total=0 p
	hz=$(getconf CLK_TCK)
	for p in $FLEET_NGINX_PID $(cat "/proc/$FLEET_NGINX_PID/task/$FLEET_NGINX_PID/children" 2>/dev/null); do
		total=$(awk -v t="$total" -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.2f", t + ($12 + $13) / hz }' \
			"/proc/$p/stat" 2>/dev/null || echo "$total")
	done
	echo "$total"
}
