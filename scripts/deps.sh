#!/bin/sh
# Installs the Debian packages natp2p's lab, tests and demo need, if any is
# missing (gcc for the race detector, qemu-user-static for the MIPS and ARM
# tests, shellcheck, busybox to run the AirOS hooks as AirOS does, coturn
# and stun-server as the probe's real peers, musl-tools for make cross's
# OpenWrt-style amd64 build: cgo against musl (gcc-mipsel-linux-gnu and
# musl-dev:mipsel for the mipsle one, where Debian has them), prometheus
# (promtool checks the metrics and the fleet's rules; prometheus scrapes
# the daemon) and
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

# The mipsel musl compiler for make cross's mipsle-owrt row (the budgeted
# build OpenWrt ships): musl-dev:mipsel has the mipsel-linux-musl-gcc
# wrapper around gcc-mipsel-linux-gnu. A foreign architecture, so apart
# from the rest: where it cannot be had (Debian after bookworm dropped
# mipsel) the row says "not built" and only the static build is budgeted.
# On bookworm: about 9 MB of package lists, 29 MB of packages, 8 s.
if ! command -v mipsel-linux-musl-gcc >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v dpkg >/dev/null 2>&1; then
	# Package lists fetched once, when the architecture is added; later
	# runs where Debian has no such package only ask apt-cache.
	if ! dpkg --print-foreign-architectures | grep -qx mipsel; then
		dpkg --add-architecture mipsel
		apt-get update -q || true
	fi
	if apt-cache show musl-dev:mipsel >/dev/null 2>&1; then
		echo "deps: installing gcc-mipsel-linux-gnu musl-dev:mipsel"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc-mipsel-linux-gnu musl-dev:mipsel ||
			echo "deps: gcc-mipsel-linux-gnu or musl-dev:mipsel did not install" >&2
	fi
	command -v mipsel-linux-musl-gcc >/dev/null 2>&1 ||
		echo "deps: no mipsel musl compiler here (gcc-mipsel-linux-gnu, musl-dev:mipsel): make cross budgets the static mipsle build only" >&2
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
