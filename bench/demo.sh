#!/usr/bin/env bash
# The main job of the quick start: boot a fleet of example guests in one
# denalid process and print a summary. It grows into the Zipf workload run
# once guests serve HTTP (bench/load has the load generator already).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DENALI_BUILD:-build}/bin
G=${DENALI_BUILD:-build}/guests
N=${DENALI_DEMO_VMS:-1000}

if [ ! -w /dev/kvm ]; then
	echo "demo: /dev/kvm is missing or not writable; denali needs KVM (run as root)" >&2
	exit 1
fi
echo "== one guest, with arguments"
$BIN/denalid run $G/hello -- from the quick start
echo
echo "== a fleet: $N sleepers (3 naps of 20 ms each) beside 2 spinners, one process"
$BIN/denalid run --summary --count "$N" $G/sleeper \
	--with "$G/spin 200" --with "$G/spin 200" -- 3 20 >/tmp/denali-demo.$$ 2>&1 || {
	cat /tmp/denali-demo.$$
	rm -f /tmp/denali-demo.$$
	exit 1
}
grep '^summary:' /tmp/denali-demo.$$
late=$(grep -o 'late [0-9]* us' /tmp/denali-demo.$$ | awk '{print $2}' | sort -n)
cnt=$(echo "$late" | wc -l)
echo "summary: $cnt wake-ups; lateness median $(echo "$late" | sed -n "$((cnt / 2 + 1))p") us," \
	"p99 $(echo "$late" | sed -n "$((cnt * 99 / 100 + 1))p") us"
rm -f /tmp/denali-demo.$$
echo
echo "== a hostile guest is killed, its neighbour is not"
$BIN/denalid run $G/hostile-vregs --with "$G/hello neighbour" || true
