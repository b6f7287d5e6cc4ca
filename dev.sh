#!/usr/bin/env bash
# The two quick-start commands:
#   ./dev.sh demo   install what is missing, build, run the main job (bench/demo.sh: a Zipf-loaded
#                   fleet of httpd VMs in a network namespace of its own; options: --help)
#   ./dev.sh test   install what is missing, build, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config liburing-dev libcap-ng-dev libjansson-dev
	  libcmocka-dev iproute2 nginx-light wrk gnuplot-nox systemd clang netcat-openbsd
	  iputils-ping curl libseccomp-dev python3)

install_missing() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "dev.sh: missing packages: ${missing[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "dev.sh: installing ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

build() {
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j"$(nproc)"
}

case "${1:-}" in
demo)
	install_missing
	build
	exec ./bench/demo.sh "${@:2}"
	;;
test)
	install_missing
	build
	cd build && exec ctest --output-on-failure -j2 --timeout 1200
	;;
*)
	echo "usage: ./dev.sh demo|test" >&2
	exit 2
	;;
esac
