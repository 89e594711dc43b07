#!/bin/sh
# Assembles OpenWrt .ipk packages (opkg, OpenWrt 24.10 and older) from the
# binaries of cross/build.sh and the feed's files, as OpenWrt's
# scripts/ipkg-build does: a gzip'd tar of ./debian-binary, ./data.tar.gz
# and ./control.tar.gz, owned by 0:0. One package per OpenWrt architecture
# in cross/targets, as dist/natp2p_<version>_<arch>.ipk.
#
#   sh cross/ipk.sh [ARCH...]     default: every architecture in cross/targets
#
# NATP2P_BIN_<name> overrides the binary for a target and NATP2P_DIST the
# output folder (tests use both).
set -eu
cd "$(dirname "$0")/.."

feed=openwrt/natp2p
mkvar() { sed -n "s/^$1:=//p" "$feed/Makefile"; }
version="$(mkvar PKG_VERSION)-$(mkvar PKG_RELEASE)"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

# tarball DIR OUT: a reproducible, root-owned tar.gz of DIR's contents.
tarball() {
	(cd "$1" && tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
		--mtime="@$epoch" -cf - .) | gzip -9n >"$2"
}

data_tree() { # DIR BIN
	install -d "$1/usr/sbin" "$1/etc/init.d" "$1/etc/config" "$1/etc/hotplug.d/iface"
	install -m 0755 "$2" "$1/usr/sbin/natp2p-agent"
	install -m 0755 "$feed/files/natp2p.init" "$1/etc/init.d/natp2p"
	install -m 0644 "$feed/files/natp2p.config" "$1/etc/config/natp2p"
	install -m 0644 "$feed/files/natp2p.hotplug" "$1/etc/hotplug.d/iface/90-natp2p"
}

# default_script NAME: OpenWrt's generated postinst/prerm.
default_script() {
	cat <<EOS
#!/bin/sh
[ "\${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s \${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. \${IPKG_INSTROOT}/lib/functions.sh
default_$1 \$0 \$@
EOS
}

control_tree() { # DIR ARCH INSTALLED_SIZE
	install -d "$1"
	cat >"$1/control" <<EOC
Package: natp2p
Version: $version
Depends: libc, kmod-nf-conntrack-netlink
Source: feeds/natp2p/natp2p
SourceName: natp2p
License: MIT
LicenseFiles: LICENSE
Section: net
URL: https://github.com/natp2p/natp2p
Maintainer: The natp2p authors
Architecture: $2
Installed-Size: $3
Description:  natp2p-agent follows the kernel's conntrack table and reports whether
 the router's NAT keeps endpoint-consistent mappings for every destination
 (draft-ford-natp2p-00 section 3, RFC 4787, RFC 5382).
EOC
	echo /etc/config/natp2p >"$1/conffiles"
	default_script postinst >"$1/postinst"
	default_script prerm >"$1/prerm"
	chmod 0755 "$1/postinst" "$1/prerm"
}

package() { # NAME ARCH
	bin=$(eval echo "\${NATP2P_BIN_$1:-dist/natp2p-agent_linux_$1}")
	[ -f "$bin" ] || { echo "ipk: no $bin: run make cross first" >&2; exit 1; }
	work=$(mktemp -d)
	data_tree "$work/data" "$bin"
	(cd "$work/data" && tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$epoch" -cf ../data.tar .)
	control_tree "$work/control" "$2" "$(wc -c <"$work/data.tar")"
	mkdir -p "$work/pkg"
	gzip -9n <"$work/data.tar" >"$work/pkg/data.tar.gz"
	tarball "$work/control" "$work/pkg/control.tar.gz"
	echo 2.0 >"$work/pkg/debian-binary"
	out=$dist/natp2p_${version}_$2.ipk
	(cd "$work/pkg" && tar --format=gnu --numeric-owner --owner=0 --group=0 --mtime="@$epoch" \
		-cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gzip -9n >"$out"
	rm -rf "$work"
	printf '%-32s %8d bytes  (%s)\n' "$(basename "$out")" "$(wc -c <"$out")" "$bin"
}

dist=${NATP2P_DIST:-dist}
mkdir -p "$dist"
want=" $* "
grep -v '^#' cross/targets | while read -r name _ _ arches; do
	[ -n "$name" ] || continue
	for arch in $(echo "$arches" | tr , ' '); do
		if [ $# -eq 0 ] || [ "${want#* "$arch" }" != "$want" ]; then
			package "$name" "$arch"
		fi
	done
done
