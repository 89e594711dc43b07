#!/bin/sh
# Builds natp2p-agent for every router target in cross/targets into
# dist/natp2p-agent_linux_<name>, and natp2p-introducer (the feed's second
# package) into dist/natp2p-introducer_linux_<name>: static (CGO_ENABLED=0), stripped
# (-s -w), -trimpath, version stamped. Prints a size table and fails when
# the mipsle binary breaks its budget (a 16 MB-flash router's share).
#
# CROSS_TARGETS="mips armv7" limits the targets, NATP2P_DIST the output
# folder (default dist); BUDGET_BYTES and BUDGET_GZIP override the budget.
set -eu
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
BUDGET_NAME=mipsle
BUDGET_BYTES=${BUDGET_BYTES:-5000000}   # stripped binary
BUDGET_GZIP=${BUDGET_GZIP:-2000000}     # gzip -9, as it sits in a package

dist=${NATP2P_DIST:-dist}
mkdir -p "$dist"
want=" ${CROSS_TARGETS:-} "
printf '%-8s %-7s %-17s %10s %10s\n' target GOARCH variant bytes gzip-9
status=0
grep -v '^#' cross/targets | while read -r name goarch variant _; do
	[ -n "$name" ] || continue
	[ -z "${CROSS_TARGETS:-}" ] || [ "${want#* "$name" }" != "$want" ] || continue
	out=$dist/natp2p-agent_linux_$name
	set -- CGO_ENABLED=0 GOOS=linux GOARCH="$goarch"
	[ "$variant" = - ] || set -- "$@" "$variant"
	env "$@" go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$out" ./cmd/natp2p-agent
	bytes=$(wc -c <"$out")
	gz=$(gzip -9c "$out" | wc -c)
	printf '%-8s %-7s %-17s %10d %10d\n' "$name" "$goarch" "$variant" "$bytes" "$gz"
	env "$@" go build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
		-o "$dist/natp2p-introducer_linux_$name" ./cmd/natp2p-introducer
	printf '%-8s %-7s %-17s %10d %10d\n' "$name" "$goarch" "introducer" \
		"$(wc -c <"$dist/natp2p-introducer_linux_$name")" "$(gzip -9c "$dist/natp2p-introducer_linux_$name" | wc -c)"
	if [ "$name" = "$BUDGET_NAME" ] && { [ "$bytes" -gt "$BUDGET_BYTES" ] || [ "$gz" -gt "$BUDGET_GZIP" ]; }; then
		echo "budget broken: $name is $bytes bytes ($gz gzipped); the budget is $BUDGET_BYTES ($BUDGET_GZIP)" >&2
		exit 1
	fi
done || status=$?
exit $status
