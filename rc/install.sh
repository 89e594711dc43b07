#!/bin/sh
# install.sh: install natp2p-agent on AirOS through the /etc/persistent hooks
# that AirOS's rc sources at boot and shutdown. See rc/README.md.
#
#   install.sh [--root DIR] [--bin PATH] [--bin-dir DIR] [--uninstall]
#
#   --root DIR     install into DIR as if it were / (staging, tests); no root
#                  check. Paths written into the hooks are the device's.
#   --bin PATH     the natp2p-agent to install (default: the one beside this
#                  script, or the one already in --bin-dir)
#   --bin-dir DIR  keep the binary in DIR (a USB stick, /var/tmp) instead of
#                  /etc/persistent, whose flash partition is small
#   --uninstall    stop the agent and remove only natp2p's files and blocks
#
# /etc/persistent hooks are a known malware persistence spot, so an admin
# must be able to see at a glance what is ours: our lines live only between
# the marker lines below, a re-install replaces them in place, and nobody
# else's lines are ever deleted or reordered. The one change we may make to
# others' bytes: a last line without a newline gets one when we append.
#
# NATP2P_FREE_KB=N replaces the free-space probe (tests; an admin who knows).
set -eu

BEGIN_MARK='# >>> natp2p >>>'
END_MARK='# <<< natp2p <<<'
PERSIST=/etc/persistent # device paths; $root goes in front when used
DIR=$PERSIST/natp2p
HOOKS='rc.prestart rc.poststart rc.prestop rc.poststop'
USAGE='usage: install.sh [--root DIR] [--bin PATH] [--bin-dir DIR] [--uninstall]'

here=$(cd "$(dirname "$0")" && pwd)
root='' bin='' bin_dir='' uninstall='' tmp=''

die() {
	printf 'natp2p: %s\n' "$*" >&2
	exit 1
}

say() {
	printf 'natp2p: %s\n' "$*"
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--uninstall) uninstall=1 && shift && continue ;;
		-h | --help) echo "$USAGE" && exit 0 ;;
		--root | --bin | --bin-dir) [ $# -ge 2 ] || die "$1 needs a value ($USAGE)" ;;
		*) die "unknown argument $1 ($USAGE)" ;;
		esac
		case $1 in
		--root) root=$2 ;;
		--bin) bin=$2 ;;
		--bin-dir) bin_dir=${2%/} ;;
		esac
		shift 2
	done
}

# check_args: --bin-dir is written into the hooks inside single quotes, so it
# must be a plain absolute device path.
check_args() {
	case $bin_dir in
	*\'* | *'
'*) die "--bin-dir must not contain quotes or newlines" ;;
	'' | /*) ;;
	*) die "--bin-dir must be an absolute path on the device, not $bin_dir" ;;
	esac
	if [ -n "$root" ]; then
		[ -d "$root" ] || die "--root $root: no such directory"
		root=$(cd "$root" && pwd)
	elif [ "$(id -u)" -ne 0 ]; then
		die "run install.sh as root (or stage into a directory with --root DIR)"
	fi
}

# check_persistent: without /etc/persistent this is not AirOS (staging with
# --root creates it).
check_persistent() {
	if [ -n "$root" ]; then
		mkdir -p "$root$PERSIST"
	fi
	[ -d "$root$PERSIST" ] || die "$PERSIST does not exist, so this is not AirOS: use rc/natp2p.init on other routers"
}

# pick_binary: src is the binary to check and copy, dest where the hooks
# will run it (a device path).
pick_binary() {
	dest=$DIR/natp2p-agent
	[ -z "$bin_dir" ] || dest=$bin_dir/natp2p-agent
	if [ -n "$bin" ]; then
		src=$bin
	elif [ -n "$bin_dir" ] && [ -f "$root$dest" ]; then
		src=$root$dest
	else
		src=$here/natp2p-agent
	fi
	[ -f "$src" ] || die "no natp2p-agent at $src: pass --bin PATH"
	[ -x "$src" ] || die "$src is not executable: chmod 755 it"
}

# check_binary: the binary must run here. A build for another CPU is the
# usual mistake, so the message names this machine's.
check_binary() {
	if out=$("$src" version 2>&1) && [ "${out#natp2p-agent }" != "$out" ]; then
		version=${out#natp2p-agent }
		return 0
	fi
	arch=$(uname -m)
	die "$src does not run on this $arch machine ($(echo "$out" | head -n 1)): install the natp2p-agent built for $arch"
}

# check_config: the config the agent will read (the admin's, if one is
# installed already) must pass the agent's own check.
check_config() {
	conf=$root$DIR/natp2p.conf
	[ -f "$conf" ] || conf=$here/natp2p.conf
	out=$("$src" check-config --config "$conf" 2>&1) && return 0
	die "$conf: $(echo "${out:-check-config failed}" | head -n 1)"
}

# size_kb FILE: its size in KiB, rounded up; 0 if there is no such file.
size_kb() {
	if [ -f "$1" ]; then
		echo $((($(wc -c <"$1") + 1023) / 1024))
	else
		echo 0
	fi
}

# mtd_kb NAME: the size in KiB of the flash partition NAME (from /proc/mtd).
mtd_kb() {
	hex=$(awk -v n="\"$1\"" '$4 == n { print $2; exit }' /proc/mtd 2>/dev/null)
	[ -n "$hex" ] && echo $((0x$hex / 1024))
}

# free_kb: KiB left for natp2p in /etc/persistent. On AirOS it is a RAM disk
# that `cfgmtd -w` packs, with the device config /tmp/system.cfg, into the
# "cfg" flash partition, which holds a current and a backup copy; so df
# would measure RAM. Estimate half the partition minus what is saved today,
# uncompressed, which errs on the safe side. Elsewhere (--root), df.
free_kb() {
	if [ -n "${NATP2P_FREE_KB-}" ]; then
		echo "$NATP2P_FREE_KB"
	elif [ -z "$root" ] && cfg=$(mtd_kb cfg); then
		echo $((cfg / 2 - $(du -sk "$PERSIST" | awk '{ print $1 }') - $(size_kb /tmp/system.cfg)))
	else
		df -P -k "$root$PERSIST" | awk 'NR == 2 { print $4 }'
	fi
}

# check_space: refuse before writing anything when our files do not fit;
# a multi-MB binary often exceeds the whole partition.
check_space() {
	free=$(free_kb)
	case $free in '' | *[!0-9-]*) die "cannot measure the free space in $PERSIST: set NATP2P_FREE_KB to the KiB free" ;; esac
	free=$((free + $(size_kb "$root$DIR/natp2p-agent"))) # a re-install replaces it
	need=$(($(size_kb "$here/natp2p.sh") + $(size_kb "$here/natp2p.conf") + 2))
	if [ -n "$bin_dir" ]; then
		[ "$free" -ge "$need" ] || die "$PERSIST has $free KiB free but natp2p's scripts need $need KiB"
		return 0
	fi
	need=$((need + $(size_kb "$src")))
	[ "$free" -ge "$need" ] || die "natp2p needs $need KiB in $PERSIST but only $free KiB are free: keep the binary elsewhere with --bin-dir DIR (a USB stick, or /var/tmp refilled after each reboot)"
}

# remember PATH: note a file we created outside $DIR (a hook file, the
# binary in --bin-dir), so that --uninstall removes it, and only it.
remember() {
	created "$1" || echo "$1" >>"$root$DIR/manifest"
}

created() {
	grep -qxF "$1" "$root$DIR/manifest" 2>/dev/null
}

install_files() {
	mkdir -p "$root$DIR"
	cp "$here/natp2p.sh" "$root$DIR/natp2p.sh"
	[ -f "$root$DIR/natp2p.conf" ] || cp "$here/natp2p.conf" "$root$DIR/natp2p.conf"
	chmod 644 "$root$DIR/natp2p.sh" "$root$DIR/natp2p.conf"
	# A binary left in $DIR by an install without --bin-dir wastes flash.
	[ -z "$bin_dir" ] || rm -f "$root$DIR/natp2p-agent"
	install_binary
}

# install_binary: copy src to dest. rm first: a running agent keeps its
# inode (cp over it fails with "text file busy"), and the space is free
# before the copy needs it.
install_binary() {
	[ "$src" != "$root$dest" ] || return 0
	mkdir -p "$root${dest%/*}"
	rm -f "$root$dest"
	cp "$src" "$root$dest"
	chmod 755 "$root$dest"
	[ -z "$bin_dir" ] || remember "$dest"
}

# block HOOK: print our lines for HOOK. Two hooks get none:
#   rc.prestart runs before services: the WAN is not up, so it is too early
#   to start, and no stale pid file needs removing (/var/run is in RAM, and
#   natp2p_start trusts a recorded pid only if it is a live natp2p-agent).
#   rc.poststop runs after services: rc.prestop has already stopped the
#   agent, with KILL if TERM was not enough; nothing is left to do.
block() {
	case $1 in
	rc.poststart) block_lines natp2p_start "start it now that services, and so the WAN, are up; it runs in the background" ;;
	rc.prestop) block_lines natp2p_stop "stop it before services go down (TERM, then KILL after 5 s)" ;;
	esac
}

# block_lines FUNC WHY: a marked block that calls FUNC from natp2p.sh.
block_lines() {
	set_bin=''
	[ -z "$bin_dir" ] || set_bin="export NATP2P_BIN='$bin_dir/natp2p-agent' && "
	cat <<EOF
$BEGIN_MARK
# natp2p-agent: $2.
# Added by natp2p's install.sh; install.sh --uninstall removes it. The
# subshell keeps natp2p's variables, functions and any exit away from rc.
(${set_bin}. "\${NATP2P_ROOT-}$DIR/natp2p.sh" && $1) || :
$END_MARK
EOF
}

# merge FILE BLOCKFILE: print FILE with its first natp2p block replaced by
# BLOCKFILE's lines (appended if FILE has none) and any later natp2p block
# dropped. Exits 3 on a marker without its partner rather than guess where
# our lines end, which could eat someone else's.
merge() {
	awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v blk="$2" '
	function emit(l) { while ((getline l < blk) > 0) print l; close(blk); done = 1 }
	$0 == b { if (inside) bad = 1; inside = 1; if (!done) emit(); next }
	$0 == e { if (!inside) bad = 1; inside = 0; next }
	!inside { print }
	END { if (inside || bad) exit 3; if (!done) emit() }' "$1"
}

# edit_hook HOOK BLOCKFILE: make HOOK's natp2p block BLOCKFILE's lines (an
# empty file removes it). A file is only created when there is a block to
# put in it: with #!/bin/sh and mode 755, as AirOS guides describe hooks.
edit_hook() {
	hook=$root$PERSIST/$1
	if [ ! -f "$hook" ]; then
		[ -s "$2" ] || return 0
		printf '#!/bin/sh\n' >"$hook"
		chmod 755 "$hook"
		remember "$PERSIST/$1"
	fi
	[ -s "$2" ] || grep -qxF "$BEGIN_MARK" "$hook" || grep -qxF "$END_MARK" "$hook" || return 0
	merge "$hook" "$2" >"$tmp/hook" || die_markers "$1"
	cat "$tmp/hook" >"$hook" # in place: keeps the file's owner and mode
}

die_markers() {
	die "$PERSIST/$1: a natp2p marker line has no partner: fix the file by hand"
}

# check_hooks: every existing hook's markers pair up, checked before any
# file is written so that a refusal leaves the device as it was.
check_hooks() {
	for h in $HOOKS; do
		[ ! -f "$root$PERSIST/$h" ] || merge "$root$PERSIST/$h" /dev/null >/dev/null || die_markers "$h"
	done
}

# unedit_hook HOOK: take our block out of HOOK; delete the file if we
# created it and nothing but its #!/bin/sh line is left.
unedit_hook() {
	[ -f "$root$PERSIST/$1" ] || return 0
	edit_hook "$1" /dev/null
	if created "$PERSIST/$1" && [ "$(cat "$root$PERSIST/$1")" = '#!/bin/sh' ]; then
		rm -f "$root$PERSIST/$1"
	fi
}

do_install() {
	check_persistent
	pick_binary
	check_binary
	check_config
	check_space
	check_hooks
	install_files
	for h in $HOOKS; do
		block "$h" >"$tmp/block"
		edit_hook "$h" "$tmp/block"
	done
	say "installed natp2p-agent $version in $DIR; rc.poststart starts it, rc.prestop stops it"
	[ -z "$bin_dir" ] || say "the binary is $dest, outside $PERSIST: after a reboot that loses it, put it back and start the agent as below"
	say "to start it now: sh -c '. $DIR/natp2p.sh && natp2p_stop && natp2p_start'"
	say "to make it survive reboots, run now: cfgmtd -w -p /etc/"
}

# stop_agent: an agent left running would hold a deleted binary. Sourced in
# a subshell, as the hooks do, so natp2p.sh's names stay out of ours.
stop_agent() {
	[ -f "$root$DIR/natp2p.sh" ] || return 0
	# natp2p.sh is checked on its own, and it reads NATP2P_ROOT.
	# shellcheck source=/dev/null disable=SC2034
	(NATP2P_ROOT=$root && . "$root$DIR/natp2p.sh" && natp2p_stop) ||
		die "could not stop natp2p-agent: run install.sh --uninstall again once it has stopped"
}

# remove_files: our files in $DIR, the binary we put in a --bin-dir, and
# $DIR itself unless someone else put files there.
remove_files() {
	if [ -f "$root$DIR/manifest" ]; then
		while IFS= read -r f; do
			case $f in */natp2p-agent) rm -f "$root$f" ;; esac
		done <"$root$DIR/manifest"
	fi
	rm -f "$root$DIR/natp2p.sh" "$root$DIR/natp2p.conf" "$root$DIR/natp2p-agent" "$root$DIR/manifest"
	rmdir "$root$DIR" 2>/dev/null || [ ! -d "$root$DIR" ] || say "kept $DIR: it holds files natp2p did not put there"
}

do_uninstall() {
	check_hooks
	stop_agent
	for h in $HOOKS; do
		unedit_hook "$h"
	done
	remove_files
	say "removed natp2p's files and hook blocks from $PERSIST"
	say "to make the removal survive reboots, run now: cfgmtd -w -p /etc/"
}

main() {
	umask 022
	parse_args "$@"
	check_args
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/natp2p.XXXXXX") || die "cannot create a temporary directory"
	trap 'rm -rf "$tmp"' EXIT
	if [ -n "$uninstall" ]; then
		do_uninstall
	else
		do_install
	fi
}

main "$@"
