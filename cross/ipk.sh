#!/bin/sh
# shellcheck disable=SC2016 # single quotes hold make syntax and the scripts OpenWrt generates, unexpanded
# Assembles the .ipk packages (opkg, OpenWrt 24.10 and older) that OpenWrt's
# build makes from the feed, straight from the binaries of cross/build.sh:
# one per package the feed's Makefile builds (natp2p, natp2p-introducer) and
# per OpenWrt architecture in cross/targets, as
# dist/<package>_<PKG_VERSION>-r<PKG_RELEASE>_<arch>.ipk.
#
# It follows OpenWrt 24.10's include/package-defaults.mk (the version),
# include/package-pack.mk (the control fields and their order, Depends with
# libc first, the default postinst/prerm, conffiles) and scripts/ipkg-build
# (a gzip'd tar of ./debian-binary, ./data.tar.gz, ./control.tar.gz, each
# tar sorted, owned by 0:0, dated SourceDateEpoch; Installed-Size is the
# size of the uncompressed data tar). The files and their modes come from
# the Makefile's Package/<name>/install, with OpenWrt's INSTALL_BIN (0755),
# INSTALL_CONF (0600), INSTALL_DATA (0644) and INSTALL_DIR (0755).
#
#   sh cross/ipk.sh [ARCH...]     default: every architecture in cross/targets
#
# NATP2P_BIN_<name> and NATP2P_INTRODUCER_BIN_<name> override the binaries
# for a target, NATP2P_DIST the output folder, SOURCE_DATE_EPOCH the date
# (default: the last commit of openwrt/natp2p, as OpenWrt's
# scripts/get_source_date_epoch.sh takes it from the package's folder).
set -eu
cd "$(dirname "$0")/.."
umask 022

feed=openwrt/natp2p
mk=$feed/Makefile

# mkvar NAME: a top-level NAME:=value of the Makefile.
mkvar() { sed -n "s/^$1:=//p" "$mk"; }
# mkdefine NAME: the body of the Makefile's `define NAME`.
mkdefine() { awk -v start="define $1" '$0 == start { on = 1; next } on && /^endef$/ { exit } on' "$mk"; }
# pkgvar PACKAGE FIELD: a FIELD:=value inside define Package/PACKAGE.
pkgvar() { mkdefine "Package/$1" | sed -n "s/^[[:space:]]*$2:=//p"; }

version="$(mkvar PKG_VERSION)-r$(mkvar PKG_RELEASE)"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- "$feed" 2>/dev/null || true)}
epoch=${epoch:-$(stat -c %Y "$mk")}

# depends PACKAGE: package-pack.mk's Depends: +libc first (but not for
# kmod-*), then each +dep, without @conditions, comma separated.
depends() {
	deps=""
	case $1 in kmod-*) ;; *) deps=libc ;; esac
	for d in $(pkgvar "$1" DEPENDS); do
		case $d in
		'$(GO_ARCH_DEPENDS)' | @*) ;;
		*:*) echo "ipk: $1: conditional dependency $d is not supported" >&2 && exit 1 ;;
		+libc) ;;
		+*) deps="${deps:+$deps, }${d#+}" ;;
		*) echo "ipk: $1: dependency $d does not start with +" >&2 && exit 1 ;;
		esac
	done
	echo "$deps"
}

# field NAME VALUE: package-pack.mk's addfield (nothing when VALUE is empty).
field() { [ -z "$2" ] || echo "$1: $2"; }

# control PACKAGE ARCH DEPENDS: package-pack.mk's Package/<name>/CONTROL,
# fields in its order (ipkg-build sets Installed-Size), then the description.
control() {
	field Package "$1"
	field Version "$version"
	field Depends "$3"
	field Source "feeds/natp2p/$(mkvar PKG_NAME)"
	field SourceName "$(mkvar PKG_NAME)"
	field License "$(mkvar PKG_LICENSE)"
	field LicenseFiles "$(mkvar PKG_LICENSE_FILES)"
	field Section "$(pkgvar "$1" SECTION)"
	field SourceDateEpoch "$epoch"
	field URL "$(pkgvar "$1" URL)"
	field Maintainer "$(mkvar PKG_MAINTAINER)"
	field Architecture "$2"
	echo "Installed-Size: 0"
	printf 'Description: '
	mkdefine "Package/$1/description" | sed -e 's,^[[:space:]]*, ,'
}

# install_files PACKAGE ROOT BINDIR: runs the Makefile's
# Package/<name>/install into ROOT, from the feed folder.
install_files() {
	script=$(mkdefine "Package/$1/install" | sed \
		-e 's/\$(INSTALL_DIR)/install -d -m0755/g' -e 's/\$(INSTALL_BIN)/install -m0755/g' \
		-e 's/\$(INSTALL_CONF)/install -m0600/g' -e 's/\$(INSTALL_DATA)/install -m0644/g' \
		-e 's/\$(1)/"$ROOT"/g' -e 's/\$(GO_PKG_BUILD_BIN_DIR)/"$BINDIR"/g')
	case $script in *'$('*)
		echo "ipk: $1: Package/$1/install uses a make variable ipk.sh does not know:" >&2
		echo "$script" >&2
		exit 1
		;;
	esac
	(cd "$feed" && ROOT=$2 BINDIR=$3 sh -eu -c "$script")
}

# default_script postinst|prerm: package-pack.mk's generated scripts.
default_script() {
	echo '#!/bin/sh'
	[ "$1" = prerm ] || echo '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0'
	echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
	echo '. ${IPKG_INSTROOT}/lib/functions.sh'
	echo "default_$1 \$0 \$@"
}

# sorted_tar DIR [MEMBER...]: ipkg-build's tar of DIR (default: all of it).
sorted_tar() {
	dir=$1
	shift
	[ $# -gt 0 ] || set -- .
	(cd "$dir" && tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
		--mtime="@$epoch" -cf - "$@")
}

# package PACKAGE ARCH BINDIR: dist/<package>_<version>_<arch>.ipk.
package() {
	work=$(mktemp -d)
	mkdir "$work/data" "$work/control" "$work/pkg"
	install_files "$1" "$work/data" "$3"
	deps=$(depends "$1")
	control "$1" "$2" "$deps" >"$work/control/control"
	conffiles=$(mkdefine "Package/$1/conffiles")
	if [ -n "$conffiles" ]; then
		for f in $conffiles; do
			[ -f "$work/data$f" ] && echo "$f"
		done | LC_ALL=C sort >"$work/control/conffiles"
	fi
	default_script postinst >"$work/control/postinst"
	default_script prerm >"$work/control/prerm"
	chmod 0755 "$work/control/postinst" "$work/control/prerm"

	sorted_tar "$work/data" | gzip -n >"$work/pkg/data.tar.gz"
	size=$(gzip -dc "$work/pkg/data.tar.gz" | wc -c)
	sed -i -e "s/^Installed-Size: .*/Installed-Size: $size/" "$work/control/control"
	sorted_tar "$work/control" | gzip -n >"$work/pkg/control.tar.gz"
	echo 2.0 >"$work/pkg/debian-binary"
	out=$dist/${1}_${version}_$2.ipk
	sorted_tar "$work/pkg" ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n >"$out"
	rm -rf "$work"
	printf '%-48s %8d bytes\n' "$(basename "$out")" "$(wc -c <"$out")"
}

# bindir NAME: a folder with the target's binaries under the names the
# Makefile installs them from.
bindir() {
	dir=$(mktemp -d)
	agent=$(eval echo "\${NATP2P_BIN_$1:-dist/natp2p-agent_linux_$1}")
	introducer=$(eval echo "\${NATP2P_INTRODUCER_BIN_$1:-dist/natp2p-introducer_linux_$1}")
	for bin in "$agent" "$introducer"; do
		[ -f "$bin" ] || { echo "ipk: no $bin: run make cross first" >&2 && exit 1; }
	done
	cp "$agent" "$dir/natp2p-agent"
	cp "$introducer" "$dir/natp2p-introducer"
	echo "$dir"
}

dist=${NATP2P_DIST:-dist}
mkdir -p "$dist"
packages=$(sed -n 's/^\$(eval \$(call BuildPackage,\(.*\)))$/\1/p' "$mk")
want=" $* "
grep -v '^#' cross/targets | while read -r name _ _ arches _; do
	[ -n "$name" ] || continue
	bins=""
	for arch in $(echo "$arches" | tr , ' '); do
		[ $# -eq 0 ] || [ "${want#* "$arch" }" != "$want" ] || continue
		bins=${bins:-$(bindir "$name")}
		for pkg in $packages; do
			package "$pkg" "$arch" "$bins"
		done
	done
	[ -z "$bins" ] || rm -rf "$bins"
done
