#!/bin/sh
# Unit tests of the packages that need no kernel, built for big-endian MIPS
# and 32-bit ARM and run under qemu-user; prints `go test -json` for
# testsummary. (qemu-user cannot open conntrack's netlink socket: the
# kernel paths are tested natively in the lab.) -short trims the largest
# pure-logic cases, which run in full natively.
set -eu
cd "$(dirname "$0")/.."
pkgs="./conntrackmap ./report ./internal/uci ./enforce ./agent ./cmd/natp2p-agent ./probe ./probe/stun ./probe/introducer ./metrics ./metrics/textfile ./internal/httpd"
# Tests that read interfaces through rtnetlink, which qemu-user cannot
# parse, and tests of a connect's outcome read with SO_ERROR, whose errno
# qemu-user passes on untranslated (the host's 111 for ECONNREFUSED, not
# MIPS' 146); they run natively.
native_only='^(TestZoneIndexName|TestReadWAN|TestUnsolicitedSYN|TestEnterCreatesEverySocket)$'
status=0
# shellcheck disable=SC2086 # $pkgs is a list
GOARCH=mips GOMIPS=softfloat go test -short -count=1 -json -skip "$native_only" -exec qemu-mips-static $pkgs || status=1
# shellcheck disable=SC2086
GOARCH=arm GOARM=5 go test -short -count=1 -json -skip "$native_only" -exec qemu-arm-static $pkgs || status=1
exit $status
