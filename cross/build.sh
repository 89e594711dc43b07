#!/bin/sh
# Builds natp2p-agent for every router target in cross/targets into
# dist/natp2p-agent_linux_<name>, and natp2p-introducer (the feed's second
# package) into dist/natp2p-introducer_linux_<name>: static (CGO_ENABLED=0),
# stripped (-s -w), -trimpath, version stamped. These are what make ipk
# packages.
#
# Beside them, for each target with a C compiler in cross/targets' last
# column, the agent as OpenWrt's feed build makes it (the <name>-owrt rows,
# dist/natp2p-agent_linux_<name>-owrt): with OpenWrt 24.10's Go (go1.23.12,
# through GOTOOLCHAIN), cgo on, linked dynamically against musl, with the
# flags of the packages feed's lang/golang/golang-package.mk:
# -buildvcs=false -trimpath, -ldflags '-s -w' (the feed Makefile's) plus
# '-linkmode external -extldflags "-Wl,-z,now -Wl,-z,relro"' (the default
# full RELRO), no -buildmode pie (PKG_ASLR_PIE_REGULAR is off for it).
# Debian has such compilers for amd64 (musl-gcc, from musl-tools) and
# mipsel (mipsel-linux-musl-gcc: dpkg --add-architecture mipsel;
# apt-get install gcc-mipsel-linux-gnu musl-dev:mipsel), not for mips.
#
# Prints a size table and fails when a budgeted build breaks its budget (a
# 16 MB-flash router's share): the budget target's static build (what make
# ipk ships) and, when its compiler is here, its OpenWrt-style build (what
# OpenWrt's build ships); the table's last column says which were checked.
#
# The agent is built with inlining off in the cold packages listed in
# cold-packages (GCFLAGS; the introducer, whose packet path runs through
# net and time, is not).
#
# CROSS_TARGETS="mips armv7" limits the targets, NATP2P_DIST the output
# folder (default dist); BUDGET_BYTES and BUDGET_GZIP override the budget,
# OWRT_GO the Go of the OpenWrt-style builds, OWRT_CC_<name> their compiler.
set -eu
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
BUDGET_NAME=mipsle
BUDGET_BYTES=${BUDGET_BYTES:-5000000}   # stripped binary
BUDGET_GZIP=${BUDGET_GZIP:-2000000}     # gzip -9, as it sits in a package
OWRT_GO=${OWRT_GO:-go1.23.12}           # OpenWrt 24.10's packages feed
LDFLAGS="-s -w -X main.version=$VERSION"
GCFLAGS=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/.*/-gcflags=&=-l/' cross/cold-packages | tr '\n' ' ')

dist=${NATP2P_DIST:-dist}
mkdir -p "$dist"
want=" ${CROSS_TARGETS:-} "

# row TARGET GOARCH VARIANT BUILD FILE BUDGET: one line of the size table,
# checking the budget when BUDGET is yes.
row() {
	bytes=$(wc -c <"$5")
	gz=$(gzip -9c "$5" | wc -c)
	checked=-
	[ "$6" = yes ] && checked=checked
	printf '%-18s %-7s %-17s %-21s %10d %10d  %s\n' "$1" "$2" "$3" "$4" "$bytes" "$gz" "$checked"
	if [ "$6" = yes ] && { [ "$bytes" -gt "$BUDGET_BYTES" ] || [ "$gz" -gt "$BUDGET_GZIP" ]; }; then
		echo "budget broken: $1 is $bytes bytes ($gz gzipped); the budget is $BUDGET_BYTES ($BUDGET_GZIP)" >&2
		return 1
	fi
}

# goenv GOARCH VARIANT: the environment of a Linux build for the target.
goenv() {
	echo "GOOS=linux GOARCH=$1"
	[ "$2" = - ] || echo "$2"
}

# static NAME GOARCH VARIANT: the static agent and introducer, with rows.
static() {
	gover=$(go env GOVERSION)
	for cmd in natp2p-agent natp2p-introducer; do
		out=$dist/${cmd}_linux_$1
		gcflags=
		[ "$cmd" != natp2p-agent ] || gcflags=$GCFLAGS
		# shellcheck disable=SC2046,SC2086 # goenv's and gcflags' words are separate
		env CGO_ENABLED=0 $(goenv "$2" "$3") go build -trimpath $gcflags -ldflags "$LDFLAGS" -o "$out" "./cmd/$cmd"
		label=$1
		[ "$cmd" = natp2p-agent ] || label="$1 introducer"
		budget=no
		[ "$label" != "$BUDGET_NAME" ] || budget=yes
		row "$label" "$2" "$3" "static, $gover" "$out" "$budget"
	done
}

# owrt NAME GOARCH VARIANT CC: the agent as OpenWrt's feed build makes it,
# or a line that says why not. --no-warn-mismatch: Debian's MIPS musl is
# hard-float, Go's softfloat objects are not (OpenWrt links a soft-float musl).
owrt() {
	label=$1-owrt
	if ! command -v "$4" >/dev/null 2>&1; then
		printf '%-18s %-7s %-17s not built: no %s here\n' "$label" "$2" "$3" "$4"
		return 0
	fi
	if ! GOTOOLCHAIN=$OWRT_GO go version >/dev/null 2>&1; then
		printf '%-18s %-7s %-17s not built: GOTOOLCHAIN=%s cannot be had\n' "$label" "$2" "$3" "$OWRT_GO"
		return 0
	fi
	out=$dist/natp2p-agent_linux_$label
	# shellcheck disable=SC2046,SC2086 # goenv's and GCFLAGS' words are separate
	env GOTOOLCHAIN="$OWRT_GO" CGO_ENABLED=1 CC="$4" CGO_CFLAGS="-Os" $(goenv "$2" "$3") \
		go build -buildvcs=false -trimpath $GCFLAGS -o "$out" -ldflags "$LDFLAGS -buildid= -linkmode external \
		-extldflags '-Wl,-z,now -Wl,-z,relro -Wl,--no-warn-mismatch'" ./cmd/natp2p-agent
	budget=no
	[ "$1" != "$BUDGET_NAME" ] || budget=yes
	row "$label" "$2" "$3" "musl cgo, $OWRT_GO" "$out" "$budget"
}

printf '%-18s %-7s %-17s %-21s %10s %10s  %s\n' target GOARCH variant build bytes gzip-9 budget
grep -v '^#' cross/targets | while read -r name goarch variant _ cc; do
	[ -n "$name" ] || continue
	[ -z "${CROSS_TARGETS:-}" ] || [ "${want#* "$name" }" != "$want" ] || continue
	static "$name" "$goarch" "$variant"
	cc=$(eval echo "\${OWRT_CC_$name:-$cc}")
	[ "$cc" = - ] || owrt "$name" "$goarch" "$variant" "$cc"
done
