# shellcheck shell=sh
# natp2p.sh: start, stop and status of natp2p-agent, shared by the AirOS
# /etc/persistent hooks (written by install.sh) and natp2p.init.
#
# Sourced, never executed. AirOS's rc sources its hooks, and our hooks source
# this file inside a subshell; even so nothing here calls `exit`, and no
# function keeps the caller waiting: start returns as soon as the agent's
# process exists (rc waits for its hooks, and boot must not wait for the
# agent), stop within about 6 s.
# Every name is prefixed natp2p_/NATP2P_ (temporaries _np_). Plain POSIX sh
# for busybox ash and dash: no `local`, no bashisms.
#
# Every path below is a path on the device. NATP2P_ROOT (default empty) is
# put in front of each one when it is used, so tests run in a fake root.

: "${NATP2P_ROOT:=}"
: "${NATP2P_DIR:=/etc/persistent/natp2p}"
: "${NATP2P_BIN:=$NATP2P_DIR/natp2p-agent}"
: "${NATP2P_CONFIG:=$NATP2P_DIR/natp2p.conf}"
: "${NATP2P_RUN:=/var/run}"
: "${NATP2P_PIDFILE:=$NATP2P_RUN/natp2p-agent.pid}"
# NATP2P_SOCKET: the control socket; empty leaves the agent's default.
: "${NATP2P_SOCKET:=}"
# NATP2P_LOG: "syslog", a file, or empty to pick: syslog when logger and
# /dev/log exist, else /var/log/natp2p-agent.log, else /tmp/natp2p-agent.log.
# Never a file under /etc/persistent: cfgmtd would save it to flash.
: "${NATP2P_LOG:=}"
: "${NATP2P_LOG_MAX_KB:=64}"
# NATP2P_LOGGER: the syslog client (busybox logger on AirOS).
: "${NATP2P_LOGGER:=logger}"

natp2p_say() {
	printf 'natp2p: %s\n' "$*" >&2
}

# natp2p_alive PID: true if PID is a running natp2p-agent. Matching the
# process name in /proc/PID/stat, not only kill -0, rejects a pid the kernel
# has given to another program and a zombie (state Z). The name is what
# execve saw (a script's own name, too), cut to 15 characters by the kernel.
# Not /proc/PID/cmdline: busybox grep stops at its NUL bytes.
natp2p_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[ -r "/proc/$1/stat" ] || return 0 # no procfs: kill -0 must do
	read -r _np_stat 2>/dev/null <"/proc/$1/stat" || return 1
	_np_name=${NATP2P_BIN##*/}
	case $_np_stat in *"($(printf '%.15s' "$_np_name")) "[!Z]*) return 0 ;; esac
	return 1
}

natp2p_gone() {
	! natp2p_alive "$1"
}

# natp2p_pid: print the running agent's pid; false if it is not running.
# Until the spawned sh has exec'd the agent this is false too.
natp2p_pid() {
	_np_pid=$(cat "$NATP2P_ROOT$NATP2P_PIDFILE" 2>/dev/null) || return 1
	case $_np_pid in '' | *[!0-9]*) return 1 ;; esac
	natp2p_alive "$_np_pid" && echo "$_np_pid"
}

# natp2p_nap: sleep a tenth of a second where sleep takes fractions (busybox
# with FLOAT_SLEEP, coreutils), else a whole one; _np_tenths says which.
natp2p_nap() {
	if sleep 0.1 2>/dev/null; then
		_np_tenths=1
	else
		sleep 1
		_np_tenths=10
	fi
}

# natp2p_wait TENTHS CMD...: run CMD until it succeeds, for at most TENTHS
# tenths of a second.
natp2p_wait() {
	_np_left=$1
	shift
	until "$@"; do
		[ "$_np_left" -gt 0 ] || return 1
		natp2p_nap
		_np_left=$((_np_left - _np_tenths))
	done
}

# natp2p_enabled: false only for an explicit `option enabled '0'`, so the
# admin can switch the agent off without uninstalling it.
natp2p_enabled() {
	_np_off="^[[:space:]]*option[[:space:]]+enabled[[:space:]]+['\"]?(0|no|off|false)['\"]?[[:space:]]*(#.*)?$"
	! grep -Eq "$_np_off" "$NATP2P_ROOT$NATP2P_CONFIG" 2>/dev/null
}

# natp2p_ready: the binary and the config are usable, and the run directory
# holds no stale pid file.
natp2p_ready() {
	if [ ! -x "$NATP2P_ROOT$NATP2P_BIN" ]; then
		natp2p_say "$NATP2P_BIN is missing or not executable: put natp2p-agent there (see rc/README.md)"
		return 1
	fi
	if ! _np_err=$("$NATP2P_ROOT$NATP2P_BIN" check-config --config "$NATP2P_ROOT$NATP2P_CONFIG" 2>&1); then
		natp2p_say "$NATP2P_CONFIG: $(echo "${_np_err:-check-config failed}" | head -n 1)"
		return 1
	fi
	mkdir -p "$NATP2P_ROOT${NATP2P_PIDFILE%/*}" && rm -f "$NATP2P_ROOT$NATP2P_PIDFILE"
}

# natp2p_log_target: where the agent's output goes (see NATP2P_LOG).
natp2p_log_target() {
	if [ -n "$NATP2P_LOG" ]; then
		echo "$NATP2P_LOG"
	elif command -v logger >/dev/null 2>&1 && [ -S /dev/log ]; then
		echo syslog
	elif [ -d "$NATP2P_ROOT/var/log" ]; then
		echo /var/log/natp2p-agent.log
	else
		echo /tmp/natp2p-agent.log
	fi
}

# natp2p_log_pump FILE: append stdin to FILE. Past NATP2P_LOG_MAX_KB it moves
# FILE to FILE.1 and starts a new one, so at most twice the cap sits in RAM.
# It counts bytes itself rather than running wc for every line.
natp2p_log_pump() {
	_np_n=0
	[ ! -f "$1" ] || _np_n=$(($(wc -c <"$1")))
	_np_max=$((NATP2P_LOG_MAX_KB * 1024))
	while IFS= read -r _np_line || [ -n "$_np_line" ]; do
		if [ "$_np_n" -ge "$_np_max" ]; then
			mv -f "$1" "$1.1"
			_np_n=0
		fi
		printf '%s\n' "$_np_line" >>"$1"
		_np_n=$((_np_n + ${#_np_line} + 1))
	done
}

# natp2p_syslog_pump: send each line of stdin (the agent's slog text lines,
# time=... level=INFO msg=... key=value ...) to syslog at its level's
# priority, daemon.debug, daemon.info, daemon.warning or daemon.err,
# without slog's timestamp (syslog stamps the line) and with the message
# unquoted before its attributes, as the agent writes to /dev/log itself
# under procd. A line that is not slog's (a Go panic) goes at daemon.err.
natp2p_syslog_pump() {
	while IFS= read -r _np_line || [ -n "$_np_line" ]; do
		case $_np_line in time=*' level='*) _np_line=${_np_line#* } ;; esac
		case $_np_line in
		level=DEBUG*) _np_prio=debug ;;
		level=INFO*) _np_prio=info ;;
		level=WARN*) _np_prio=warning ;;
		*) _np_prio=err ;;
		esac
		case $_np_line in level=*' msg='*) _np_line=${_np_line#* msg=} ;; esac
		case $_np_line in
	\"*\\*) ;; # an escape in the message: leave it quoted
		'"'*'" '*)
			_np_rest=${_np_line#*\" }
			_np_line="${_np_line%%\" *} $_np_rest"
			_np_line=${_np_line#\"}
			;;
		'"'*'"') _np_line=${_np_line#\"} && _np_line=${_np_line%\"} ;;
		esac
		"$NATP2P_LOGGER" -t natp2p-agent -p "daemon.$_np_prio" -- "$_np_line"
	done
}

# natp2p_sink TARGET: the reading end of the agent's stderr. It ignores HUP
# like the agent: if it died, the agent's next log line would kill the agent
# with SIGPIPE. It lets go of the caller's stdout and stderr with exec: a
# redirection on the call would have dash keep copies open, and rc's caller
# would wait for them to close.
natp2p_sink() {
	trap '' HUP
	exec >/dev/null 2>&1
	if [ "$1" = syslog ]; then
		natp2p_syslog_pump
		return
	fi
	mkdir -p "$NATP2P_ROOT${1%/*}"
	natp2p_log_pump "$NATP2P_ROOT$1"
}

# natp2p_spawn TARGET: run the agent in the background, its output piped to
# natp2p_sink. The inner sh writes its own pid and then execs the agent, so
# the pid file names the agent itself ($! would name the sink). HUP is
# ignored so an admin can start it from ssh and log out.
natp2p_spawn() {
	_np_target=$1
	set -- "$NATP2P_ROOT$NATP2P_BIN" run --config "$NATP2P_ROOT$NATP2P_CONFIG"
	if [ -n "$NATP2P_SOCKET" ]; then
		set -- "$@" --socket "$NATP2P_ROOT$NATP2P_SOCKET"
	fi
	# shellcheck disable=SC2016 # $0, $$ and $@ belong to the inner sh
	sh -c 'trap "" HUP; echo "$$" >"$0" && exec "$@"' "$NATP2P_ROOT$NATP2P_PIDFILE" "$@" \
		</dev/null 2>&1 | natp2p_sink "$_np_target" &
}

natp2p_running() {
	natp2p_pid >/dev/null
}

# natp2p_start: check the config, then start the agent in the background.
# Waits only until the agent's process exists (milliseconds), never for the
# agent to be ready.
natp2p_start() {
	if _np_pid=$(natp2p_pid); then
		natp2p_say "natp2p-agent is already running (pid $_np_pid)"
		return 0
	fi
	if ! natp2p_enabled; then
		natp2p_say "disabled in $NATP2P_CONFIG (option enabled '0'): not starting"
		return 0
	fi
	natp2p_ready || return 1
	_np_log=$(natp2p_log_target)
	natp2p_spawn "$_np_log"
	if ! natp2p_wait 20 natp2p_running; then
		natp2p_say "natp2p-agent did not start; see $_np_log"
		return 1
	fi
	natp2p_say "started natp2p-agent (pid $(cat "$NATP2P_ROOT$NATP2P_PIDFILE")), log: $_np_log"
}

# natp2p_stop: TERM the agent, give it 5 s to exit cleanly, then KILL it.
natp2p_stop() {
	if ! _np_pid=$(natp2p_pid); then
		rm -f "$NATP2P_ROOT$NATP2P_PIDFILE"
		natp2p_say "natp2p-agent is not running"
		natp2p_cleanup # a crashed agent may have left its rules
		return 0
	fi
	kill -TERM "$_np_pid" 2>/dev/null
	if ! natp2p_wait 50 natp2p_gone "$_np_pid"; then
		natp2p_say "natp2p-agent (pid $_np_pid) ignored TERM for 5 s: killing it"
		kill -KILL "$_np_pid" 2>/dev/null
		if ! natp2p_wait 10 natp2p_gone "$_np_pid"; then
			natp2p_say "natp2p-agent (pid $_np_pid) survived KILL"
			return 1
		fi
	fi
	rm -f "$NATP2P_ROOT$NATP2P_PIDFILE"
	natp2p_say "stopped natp2p-agent (pid $_np_pid)"
	natp2p_cleanup
}

# natp2p_cleanup: remove enforce mode's firewall rules and restore the
# conntrack timeouts (nothing to do in observe mode).
natp2p_cleanup() {
	if ! _np_err=$("$NATP2P_ROOT$NATP2P_BIN" cleanup --config "$NATP2P_ROOT$NATP2P_CONFIG" 2>&1 >/dev/null); then
		natp2p_say "cleanup: $(echo "${_np_err:-failed}" | head -n 1)"
	fi
}

# natp2p_status: print whether the agent runs; 0 if it does, 3 (the LSB
# "not running") if not.
natp2p_status() {
	if _np_pid=$(natp2p_pid); then
		echo "natp2p: natp2p-agent is running (pid $_np_pid)"
		return 0
	fi
	echo "natp2p: natp2p-agent is not running"
	return 3
}
