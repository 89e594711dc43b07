#!/bin/sh
# Installs the Debian packages natp2p's lab, tests and demo need, if any is
# missing (gcc for the race detector, qemu-user-static for the MIPS and ARM
# tests, shellcheck, busybox to run the AirOS hooks as AirOS does, coturn
# and stun-server as the probe's real peers, musl-tools for make cross's
# OpenWrt-style amd64 build: cgo against musl, prometheus (promtool checks
# the metrics and the fleet's rules; prometheus scrapes the daemon) and
# victoria-metrics, which the push lands in through curl), and
# checks the Go toolchain. Idempotent; needs root
# to install.
set -eu

# command -> Debian package
need="ip:iproute2 nft:nftables iptables:iptables conntrack:conntrack sysctl:procps setpriv:util-linux gcc:gcc git:git
qemu-mips-static:qemu-user-static qemu-arm-static:qemu-user-static shellcheck:shellcheck busybox:busybox
turnserver:coturn stund:stun-server ss:iproute2 musl-gcc:musl-tools promtool:prometheus
victoria-metrics:victoria-metrics curl:curl"

missing=""
for pair in $need; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages:$missing; run as root to install them" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	apt-get update -q
	# shellcheck disable=SC2086 # $missing is a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

if ! command -v go >/dev/null 2>&1; then
	echo "deps: no Go toolchain on PATH: install Go 1.23 or newer (https://go.dev/doc/install) and put it on PATH" >&2
	exit 1
fi
minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$minor" ] || [ "$minor" -lt 23 ]; then
	echo "deps: $(go env GOVERSION) is too old: natp2p needs Go 1.23 or newer" >&2
	exit 1
fi
if [ "$minor" -lt 24 ] && [ "$(go env GOTOOLCHAIN)" = local ]; then
	echo "deps: $(go env GOVERSION) with GOTOOLCHAIN=local cannot build the end-to-end tests (e2e/ needs Go 1.24 for pion/ice v4): install Go 1.24 or newer, or set GOTOOLCHAIN=auto" >&2
	exit 1
fi
