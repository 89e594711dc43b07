#!/bin/sh
# sdk.sh: build natp2p's feed with OpenWrt's own package machinery (opt-in).
#
#   make sdk OPENWRT_SDK=DIR      (or: sh scripts/sdk.sh DIR)
#
# DIR is an OpenWrt SDK (24.10: openwrt-sdk-24.10.*, unpacked) or a
# buildroot whose toolchain is built (make toolchain/install), with the
# packages feed already there (./scripts/feeds update packages: it holds
# the Go toolchain the package builds with). This script changes DIR: it
# adds `src-link natp2p <this tree>/openwrt` to feeds.conf (replacing a
# natp2p feed line that names another tree), installs the
# feed's packages and golang, and enables natp2p and natp2p-introducer as
# modules in .config. Then it builds twice:
#   1. from the feed:            make package/natp2p/compile
#   2. copied into package/:     make package/natp2p-compile (legacy spelling),
#      or, in a tree without it (24.10), make package/natp2p/compile again
# and after each it unpacks bin/packages/<arch>/.../natp2p_*.ipk and checks
# its control fields, files and modes against what cross/ipk.sh makes from
# the same binaries (what make ipk ships), and that the agent is an ELF
# executable. The copy is removed afterwards and the feed's package
# installed again.
#
# It downloads nothing itself; OpenWrt's build of the package may: the
# host Go (golang/host: its bootstrap and source tarballs into DIR/dl,
# unless there or an SDK's) and the module's dependencies (GOPROXY). Without
# DIR, or when DIR is not such a tree, it says in one line that it did not
# run and why, and exits 0. It ends with "sdk: N passed, M failed".
set -eu

skip() {
	echo "sdk: did not run: $*"
	exit 0
}

# usable_sdk DIR: why DIR cannot be used (nothing when it can).
usable_sdk() {
	if [ ! -d "$1" ]; then
		echo "$1 is not a directory"
	elif [ ! -f "$1/rules.mk" ] || [ ! -f "$1/include/package.mk" ] || [ ! -x "$1/scripts/feeds" ]; then
		echo "$1 is not an OpenWrt SDK or buildroot (no rules.mk, include/package.mk or scripts/feeds)"
	elif [ ! -f "$1/feeds/packages/lang/golang/golang-package.mk" ]; then
		echo "$1 has no packages feed (run ./scripts/feeds update packages there first: it downloads)"
	elif ! ls -d "$1"/staging_dir/toolchain-* >/dev/null 2>&1; then
		echo "$1 has no toolchain in staging_dir (a buildroot needs make toolchain/install first)"
	fi
}

pass=0
fail=0

check() {
	name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
		echo "ok   $name"
	else
		fail=$((fail + 1))
		echo "FAIL $name"
	fi
}

# run LOG CMD...: CMD in the SDK, its output in LOG (the tail shown on failure).
run() {
	log=$1
	shift
	echo "sdk: $* (log: $log)"
	if ! (cd "$sdk" && "$@") >"$log" 2>&1; then
		tail -n 30 "$log"
		return 1
	fi
}

# newest PATTERN...: the newest existing file of the patterns.
newest() {
	# shellcheck disable=SC2012 # names without newlines, sorted by time
	ls -t "$@" 2>/dev/null | head -n 1
}

# field FILE NAME: a control field's value.
field() { sed -n "s/^$2: //p" "$1"; }

# listing DIR: the files of an unpacked data.tar.gz with their modes.
listing() { (cd "$1" && find . -mindepth 1 -printf '%M %p\n' | LC_ALL=C sort -k2); }

deps_ok() { case $1 in libc,*kmod-nf-conntrack-netlink*) return 0 ;; esac && return 1; }
is_elf() { head -c 4 "$1" | grep -q ELF; }

# unpack IPK DIR: the members of an .ipk (a gzip'd tar, OpenWrt 24.10).
unpack() {
	mkdir -p "$2/pkg" "$2/control" "$2/data"
	tar -xzf "$1" -C "$2/pkg"
	tar -xzf "$2/pkg/control.tar.gz" -C "$2/control"
	tar -xzf "$2/pkg/data.tar.gz" -C "$2/data"
}

# target_of ARCH: the cross/targets line name whose architectures include ARCH.
target_of() {
	grep -v '^#' cross/targets | while read -r name _ _ arches _; do
		case ",$arches," in *",$1,"*) echo "$name" ;; esac
	done
}

# check_ipk LABEL IPK: the package OpenWrt built against cross/ipk.sh's.
check_ipk() {
	label=$1 ipk=$2
	w=$tmp/$label
	rm -rf "$w"
	unpack "$ipk" "$w/sdk"
	c=$w/sdk/control/control
	arch=$(field "$c" Architecture)
	version=$(sed -n 's/^PKG_VERSION:=//p' openwrt/natp2p/Makefile)-r$(sed -n 's/^PKG_RELEASE:=//p' openwrt/natp2p/Makefile)
	check "$label: Version $version" test "$(field "$c" Version)" = "$version"
	check "$label: Depends libc first, kmod-nf-conntrack-netlink" \
		deps_ok "$(field "$c" Depends)"
	check "$label: conffiles /etc/config/natp2p" grep -qx /etc/config/natp2p "$w/sdk/control/conffiles"
	check "$label: natp2p-agent is an ELF executable" is_elf "$w/sdk/data/usr/sbin/natp2p-agent"

	name=$(target_of "$arch")
	if [ -z "$name" ]; then
		echo "     ($arch is not in cross/targets: no comparison with cross/ipk.sh)"
		return 0
	fi
	# cross/ipk.sh from the same binaries, dated like OpenWrt's package.
	cp "$w/sdk/data/usr/sbin/natp2p-agent" "$w/agent"
	intro=$(newest "$(dirname "$ipk")"/natp2p-introducer_*.ipk)
	unpack "$intro" "$w/sdk-introducer"
	cp "$w/sdk-introducer/data/usr/sbin/natp2p-introducer" "$w/introducer"
	mkdir "$w/ours"
	env "NATP2P_BIN_$name=$w/agent" "NATP2P_INTRODUCER_BIN_$name=$w/introducer" NATP2P_DIST="$w/ours" \
		SOURCE_DATE_EPOCH="$(field "$c" SourceDateEpoch)" sh cross/ipk.sh "$arch" >/dev/null
	unpack "$(newest "$w"/ours/natp2p_*.ipk)" "$w/ipk"
	# Installed-Size differs only as much as the tar's padding; Source
	# names where the Makefile sat (feeds/natp2p/natp2p or package/natp2p).
	for f in control conffiles postinst prerm; do
		grep -v -e '^Installed-Size:' -e '^Source:' "$w/sdk/control/$f" >"$w/sdk.$f" 2>/dev/null || true
		grep -v -e '^Installed-Size:' -e '^Source:' "$w/ipk/control/$f" >"$w/ipk.$f" 2>/dev/null || true
		check "$label: $f as make ipk writes it" diff -u "$w/ipk.$f" "$w/sdk.$f"
	done
	listing "$w/sdk/data" >"$w/sdk.files"
	listing "$w/ipk/data" >"$w/ipk.files"
	check "$label: files and modes as make ipk packs them" diff -u "$w/ipk.files" "$w/sdk.files"
}

# forget_copy: remove package/natp2p and what the build tree scanned of
# it (scripts/feeds takes a package whose tmp/info/.packageinfo-<dir> file
# remains for a core package, and will not install the feed's).
forget_copy() {
	rm -rf "$sdk/package/natp2p"
	rm -f "$sdk/tmp/info/.packageinfo-natp2p" "$sdk/tmp/info/.targetinfo-natp2p"
}

# select_packages: both packages as modules in .config.
select_packages() {
	printf 'CONFIG_PACKAGE_natp2p=m\nCONFIG_PACKAGE_natp2p-introducer=m\n' >>"$sdk/.config"
	run "$tmp/defconfig.log" make defconfig
}

main() {
	sdk=${1:-${OPENWRT_SDK:-}}
	[ -n "$sdk" ] || skip "no OPENWRT_SDK (make sdk OPENWRT_SDK=DIR, DIR an OpenWrt SDK or buildroot with the packages feed; see README)"
	why=$(usable_sdk "$sdk")
	[ -z "$why" ] || skip "$why"
	sdk=$(cd "$sdk" && pwd)
	cd "$(dirname "$0")/.."
	repo=$(pwd)
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/natp2p-sdk.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT

	forget_copy # a copy an interrupted run left
	[ -f "$sdk/feeds.conf" ] || cp "$sdk/feeds.conf.default" "$sdk/feeds.conf"
	# This tree's feed, in place of a natp2p line that names another tree
	# (which would be built instead, silently).
	grep -v "^src-[a-z]* natp2p " "$sdk/feeds.conf" >"$tmp/feeds.conf" || true
	echo "src-link natp2p $repo/openwrt" >>"$tmp/feeds.conf"
	cat "$tmp/feeds.conf" >"$sdk/feeds.conf"
	run "$tmp/feeds.log" ./scripts/feeds update natp2p
	run "$tmp/feeds.log" ./scripts/feeds update -i # every feed's index again: no download
	run "$tmp/feeds.log" ./scripts/feeds install golang
	run "$tmp/feeds.log" ./scripts/feeds install -p natp2p natp2p natp2p-introducer
	select_packages

	start=$tmp/start
	touch "$start"
	check "make package/natp2p/compile" run "$tmp/feed.log" make package/natp2p/compile V=s
	ipk=$(find "$sdk/bin/packages" -name 'natp2p_*.ipk' -newer "$start" | head -n 1)
	if [ -n "$ipk" ]; then
		echo "sdk: $ipk"
		check_ipk feed "$ipk"
	else
		check "make package/natp2p/compile made natp2p_*.ipk" false
	fi

	# The folder copied into package/, the sources in package/natp2p/src,
	# as the Makefile's header says, built with the legacy spelling where
	# the tree still has it (OpenWrt 24.10's include/subdir.mk makes only
	# package/<name>/compile).
	run "$tmp/feeds.log" ./scripts/feeds uninstall natp2p natp2p-introducer
	cp -R openwrt/natp2p "$sdk/package/natp2p"
	ln -s "$repo" "$sdk/package/natp2p/src"
	select_packages # the feed's uninstall took the packages out of .config
	touch "$start"
	target=package/natp2p-compile
	if ! run "$tmp/package.log" make "$target" V=s &&
		grep -q "No rule to make target '$target'" "$tmp/package.log"; then
		echo "     (this tree has no $target: building package/natp2p/compile from package/natp2p)"
		target=package/natp2p/compile
		touch "$start"
		run "$tmp/package.log" make "$target" V=s || true
	fi
	ipk=$(find "$sdk/bin/packages" -name 'natp2p_*.ipk' -newer "$start" | head -n 1)
	if [ -n "$ipk" ]; then
		check "make $target (package/natp2p)" true
		echo "sdk: $ipk"
		check_ipk package "$ipk"
	else
		check "make $target (package/natp2p) made natp2p_*.ipk" false
	fi
	# Back to the feed.
	forget_copy
	run "$tmp/feeds.log" ./scripts/feeds install -p natp2p natp2p natp2p-introducer || true

	echo "sdk: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

main "$@"
