#!/bin/sh
# The whole test suite: formatting, vet, every test (unit, fuzz seed
# corpora, and the netns lab tests through the built binary) under the race
# detector, and a build with Go 1.23, the Go of OpenWrt 24.10's SDK; then
# the end-to-end tests of the nested module e2e/ (real P2P software, pion/ice,
# through two NATs; Go 1.24; not under the race detector, which would only
# instrument the test driver and pion at a large compile-time cost).
# Lab tests need root; without it they skip, unless NATP2P_REQUIRE_LAB=1
# (CI) turns a skip into a failure. Closes with "tests: N passed, ...".
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
# phase names a step and when it began, in seconds since the start.
phase() {
	echo "== $* (at $(($(date +%s) - start)) s)"
}

phase "shellcheck"
# shellcheck disable=SC2046 # word lists of file names
shellcheck -s sh scripts/*.sh cross/*.sh $(ls rc/*.sh rc/*.init 2>/dev/null)
shellcheck -s dash openwrt/natp2p/files/natp2p.init openwrt/natp2p/files/natp2p.hotplug

phase "gofmt"
# shellcheck disable=SC2046
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then
	echo "gofmt would change: $bad" >&2
	exit 1
fi

phase "go vet"
go vet ./...
go vet -tags integration ./...
(cd e2e && go vet ./... && go vet -tags integration ./...)

phase "go vet off Linux (darwin, freebsd): the kernel code has stubs"
GOOS=darwin go vet ./...
GOOS=freebsd go vet ./...

phase "go 1.23 (OpenWrt 24.10 SDK): build and vet"
GOTOOLCHAIN=go1.23.12 go vet -tags integration ./...
GOTOOLCHAIN=go1.23.12 CGO_ENABLED=0 go build ./...

phase "go test -race -tags integration ./..."
if [ "$(id -u)" -ne 0 ]; then
	echo "note: not root: the netns lab tests will skip (run as root to include them)"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
go test -race -tags integration -count=1 -json ./... >"$out" || status=$?
phase "the iptables lab tests that do not loop over the flavours, again on iptables-legacy (their nftables cases ran above)"
NATP2P_IPTABLES=legacy go test -race -tags integration -count=1 -json -run 'Enforce|Observe' -skip '/nftables' ./cmd/natp2p-agent >>"$out" || status=$?
NATP2P_IPTABLES=legacy go test -race -tags integration -count=1 -json -run 'Hairpin' ./enforce >>"$out" || status=$?
phase "e2e: real P2P software through two NATs (go test -tags integration ./... in e2e/)"
(cd e2e && go test -tags integration -count=1 -json ./...) >>"$out" || status=$?
phase "the same packages for mips and arm, under qemu-user"
sh scripts/test-cross.sh >>"$out" || status=$?
phase "summary"
go run ./internal/cmd/testsummary <"$out" || exit 1
exit $status
