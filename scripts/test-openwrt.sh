#!/bin/sh
# test-openwrt.sh: natp2p's package in a real OpenWrt userland (opt-in).
#
#   make test-openwrt OPENWRT_ROOTFS=DIR     (or: sh scripts/test-openwrt.sh DIR)
#
# DIR is an OpenWrt x86-64 root filesystem that uses opkg (24.10 or older),
# for example OpenWrt's rootfs tarball unpacked by root. DIR is never
# written: the test runs on an overlay over it, in throwaway mount, pid and
# network namespaces (unshare), chrooted into the overlay, and everything
# goes away with them. It builds natp2p's x86_64 .ipk packages from this
# tree (cross/ipk.sh), starts ubusd, procd (as a service manager, not as
# init), logd, netifd and the firewall (fw4) there, installs the packages
# with the root's opkg, then checks, each as one "ok"/"FAIL" line:
# natp2p-agent report; a WAN ifup restarting the agent (hotplug); uci
# commit + reload_config restarting it; enforce mode's nftables table
# surviving a firewall restart; stop running cleanup (table gone, UDP
# conntrack timeout restored); opkg remove keeping the edited
# /etc/config/natp2p; logread showing natp2p's lines at their levels with
# one timestamp. It downloads nothing.
#
# Without DIR, or when DIR is not such a root, it says in one line that it
# did not run and why, and exits 0. It needs root, Linux with overlayfs,
# nftables and veth, and go; it ends with "test-openwrt: N passed, M failed".
set -eu

# Bounds of every wait, in seconds.
WAIT=${NATP2P_OPENWRT_WAIT:-30}
ALL=${NATP2P_OPENWRT_TIMEOUT:-300}

skip() {
	echo "test-openwrt: did not run: $*"
	exit 0
}

die() {
	echo "test-openwrt: $*" >&2
	exit 1
}

# present PATH: PATH exists, or is a symbolic link (absolute links point
# into the root, not into this host).
present() { [ -e "$1" ] || [ -L "$1" ]; }

# usable_root DIR: why DIR cannot be tested (nothing when it can).
usable_root() {
	if [ ! -d "$1" ]; then
		echo "$1 is not a directory"
	elif ! present "$1/etc/openwrt_release" || ! present "$1/sbin/procd"; then
		echo "$1 is not an OpenWrt root (no etc/openwrt_release or sbin/procd)"
	elif ! present "$1/bin/opkg"; then
		echo "$1 has no bin/opkg (OpenWrt 25.12 and later install .apk packages; natp2p's are .ipk, for 24.10 and older)"
	fi
}

# host_main ROOT: checks, builds the packages, runs the namespaced part.
host_main() {
	root=${1:-${OPENWRT_ROOTFS:-}}
	[ -n "$root" ] || skip "no OPENWRT_ROOTFS (make test-openwrt OPENWRT_ROOTFS=DIR, DIR an OpenWrt x86-64 root filesystem; see README)"
	why=$(usable_root "$root")
	[ -z "$why" ] || skip "$why"
	[ "$(id -u)" = 0 ] || die "needs root (namespaces, overlayfs, chroot)"
	[ "$(uname -m)" = x86_64 ] || die "runs the x86_64 package, on an x86_64 host only (this is $(uname -m))"
	root=$(cd "$root" && pwd)
	cd "$(dirname "$0")/.."
	self=$(pwd)/scripts/test-openwrt.sh

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/natp2p-openwrt.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	mkdir "$tmp/pkgs" "$tmp/ns"
	echo "test-openwrt: building the x86_64 packages"
	for cmd in natp2p-agent natp2p-introducer; do
		CGO_ENABLED=0 GOOS=linux GOARCH=amd64 ${GO:-go} build -trimpath -ldflags '-s -w' -o "$tmp/$cmd" "./cmd/$cmd"
	done
	NATP2P_BIN_amd64=$tmp/natp2p-agent NATP2P_INTRODUCER_BIN_amd64=$tmp/natp2p-introducer NATP2P_DIST=$tmp/pkgs \
		sh cross/ipk.sh x86_64 >/dev/null

	echo "test-openwrt: $(sed -n "s/^DISTRIB_DESCRIPTION=//p" "$root/etc/openwrt_release" | tr -d "'\"") in $root (overlay, namespaces)"
	timeout --kill-after=10 "$ALL" unshare --mount --pid --net --fork --kill-child \
		sh "$self" --namespaces "$root" "$tmp/ns" "$tmp/pkgs"
}

# ns_main ROOT TMP PKGS: in the new namespaces, with the host's tools:
# the overlay, /proc, /sys, /dev, /tmp, the network devices, then chroot.
ns_main() {
	root=$1 t=$2 pkgs=$3
	mount --make-rprivate /
	mount -t tmpfs -o mode=0700 natp2p-openwrt "$t"
	mkdir "$t/upper" "$t/work" "$t/root"
	r=$t/root
	mount -t overlay overlay -o "lowerdir=$root,upperdir=$t/upper,workdir=$t/work" "$r"
	mount -t proc proc "$r/proc"
	mount -t sysfs sysfs "$r/sys"
	mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
	mount -t tmpfs -o mode=0755 tmpfs "$r/dev"
	for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
		mknod -m 0666 "$r/dev/${node%%:*}" c "$(echo "$node" | cut -d: -f2)" "${node##*:}"
	done
	mkdir "$r/tmp/natp2p-pkgs"
	cp "$pkgs"/*.ipk "$r/tmp/natp2p-pkgs/"
	cp "$0" "$r/tmp/test-openwrt.sh"

	# WAN and LAN: veth pairs whose far ends stand for the ISP and a LAN
	# host (documentation and shared address space only).
	ip link set lo up
	ip link add wan0 type veth peer name isp0
	ip link add lan0 type veth peer name host0
	ip addr add 100.64.0.1/24 dev isp0
	ip link set isp0 up
	ip link set host0 up
	exec chroot "$r" /bin/sh /tmp/test-openwrt.sh --in-root
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

# until_ok CMD...: run CMD once a second until it succeeds, WAIT times at most.
until_ok() {
	n=0
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt "$WAIT" ] || return 1
		sleep 1
	done
}

agent_pid() { pidof natp2p-agent; }
has_table() { nft list tables 2>/dev/null | grep -q ' natp2p$'; }
no_table() { ! has_table; }
udp_timeout() { cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout 2>/dev/null || echo none; }
pid_changed() { p=$(agent_pid) && [ "$p" != "$1" ]; }
wan_up() { ubus call network.interface.wan status 2>/dev/null | grep -q '"up": true'; }
# report_ok: report answered: exit 0, or 1 when one of its checks fails
# (this namespace's NAT is no router's), with its rows printed.
report_ok() {
	rc=0
	natp2p-agent report >/tmp/report.txt 2>&1 || rc=$?
	[ "$rc" -le 1 ] && grep -q 'filtering' /tmp/report.txt
}

# in_root: inside the OpenWrt root, with its tools: the daemons, then the checks.
in_root() {
	PATH=/usr/sbin:/usr/bin:/sbin:/bin
	export PATH
	mkdir -p /var/run/ubus /var/log /var/lock /var/state /var/tmp /tmp/.uci
	cat >/etc/config/network <<-'EOF'
		config interface 'loopback'
			option device 'lo'
			option proto 'static'
			option ipaddr '127.0.0.1'
			option netmask '255.0.0.0'

		config interface 'lan'
			option device 'lan0'
			option proto 'static'
			option ipaddr '192.0.2.1'
			option netmask '255.255.255.0'

		config interface 'wan'
			option device 'wan0'
			option proto 'static'
			option ipaddr '100.64.0.2'
			option netmask '255.255.255.0'
			option gateway '100.64.0.1'
	EOF
	/sbin/ubusd >/tmp/ubusd.log 2>&1 &
	until_ok test -S /var/run/ubus/ubus.sock || die "ubusd did not start: $(cat /tmp/ubusd.log)"
	/sbin/procd -S >/tmp/procd.log 2>&1 &
	until_ok ubus -t 1 list service || die "procd did not register with ubus: $(cat /tmp/procd.log)"
	/etc/init.d/log start
	until_ok ubus -t 1 list log || die "logd did not start"
	/etc/init.d/network start
	until_ok wan_up || die "netifd did not bring up wan: $(ubus call network.interface.wan status 2>&1)"
	/etc/init.d/firewall start >/tmp/firewall.log 2>&1 || die "fw4 did not start: $(cat /tmp/firewall.log)"
	checks
	echo "test-openwrt: $pass passed, $fail failed"
	[ "$fail" -eq 0 ] || {
		echo "--- logread"
		logread | tail -n 40
		echo "--- procd"
		tail -n 20 /tmp/procd.log
		return 1
	}
}

checks() {
	# The kernel is the host's: a root without the module's package gets
	# it recorded as installed in the overlay (opkg's --force-depends does
	# not install a package whose dependency it cannot find).
	if ! opkg status kmod-nf-conntrack-netlink | grep -q .; then
		printf 'Package: kmod-nf-conntrack-netlink\nVersion: 0-host\nStatus: install user installed\nArchitecture: x86_64\nInstalled-Time: 0\n\n' \
			>>/usr/lib/opkg/status
	fi
	check "opkg install natp2p natp2p-introducer" opkg install /tmp/natp2p-pkgs/natp2p_*.ipk /tmp/natp2p-pkgs/natp2p-introducer_*.ipk
	# What boot's reload_config would have recorded: the checksums of
	# natp2p's new config, so that a later change counts as one.
	reload_config
	check "procd runs natp2p-agent" until_ok agent_pid
	check "natp2p-agent report" until_ok report_ok

	pid=$(agent_pid || echo none)
	ifup wan
	check "WAN ifup restarts the agent (hotplug)" until_ok pid_changed "$pid"
	until_ok wan_up || true

	pid=$(agent_pid || echo none)
	uci set natp2p.main.log_level=debug
	uci commit natp2p
	reload_config
	check "uci commit + reload_config restarts the agent" until_ok pid_changed "$pid"

	before=$(udp_timeout)
	uci set natp2p.main.mode=enforce
	uci commit natp2p
	reload_config
	check "enforce mode adds natp2p's nftables table" until_ok has_table
	/etc/init.d/firewall restart >/tmp/firewall.log 2>&1 || cat /tmp/firewall.log
	check "fw4 restart keeps natp2p's table" has_table
	sleep 2
	check "natp2p's table still there 2 s later" has_table

	/etc/init.d/natp2p stop
	check "stop: agent gone" until_ok sh -c '! pidof natp2p-agent'
	check "stop runs cleanup: table removed" no_table
	check "stop runs cleanup: UDP timeout back to $before" test "$(udp_timeout)" = "$before"

	uci set natp2p-introducer.main.enabled=1
	uci set natp2p-introducer.main.primary=100.64.0.2
	uci commit natp2p-introducer
	/etc/init.d/natp2p-introducer start
	check "natp2p-introducer runs" until_ok pidof natp2p-introducer
	until_ok sh -c 'logread -e natp2p-introducer | grep -q " daemon.info natp2p-introducer\[[0-9]*\]: serving "' || true

	opkg remove natp2p >/tmp/opkg-remove.log 2>&1 || cat /tmp/opkg-remove.log
	check "opkg remove: binary gone" test ! -e /usr/sbin/natp2p-agent
	check "opkg remove keeps the edited /etc/config/natp2p" grep -q "option mode 'enforce'" /etc/config/natp2p

	logread -e 'natp2p' >/tmp/natp2p.log
	check "logread: natp2p-agent at daemon.info" grep -q ' daemon\.info natp2p-agent\[[0-9]*\]: ' /tmp/natp2p.log
	check "logread: natp2p-introducer at daemon.warn (single-IP mode)" grep -q ' daemon\.warn natp2p-introducer\[[0-9]*\]: degraded ' /tmp/natp2p.log
	check "logread: natp2p-introducer at daemon.info" grep -q ' daemon\.info natp2p-introducer\[[0-9]*\]: serving ' /tmp/natp2p.log
	check "logread: one timestamp (no time= in natp2p's lines)" sh -c '! grep -q " time=" /tmp/natp2p.log'
	check "logread: no slog line at daemon.err (stderr)" sh -c '! grep -q "daemon\.err natp2p[-a-z]*: .*level=" /tmp/natp2p.log'
}

case ${1:-} in
--namespaces)
	shift
	ns_main "$@"
	;;
--in-root)
	in_root
	;;
*)
	host_main "$@"
	;;
esac
