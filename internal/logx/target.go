package logx

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Log targets: where a daemon's logs go.
const (
	TargetAuto   = "auto"   // syslog when procd runs the daemon, else stderr
	TargetSyslog = "syslog" // DevLog, as logread or journalctl show it
	TargetStderr = "stderr" // slog's text lines on stderr
)

// CheckTarget accepts the log targets ("" is TargetAuto).
func CheckTarget(t string) error {
	switch t {
	case "", TargetAuto, TargetSyslog, TargetStderr:
		return nil
	}
	return fmt.Errorf("unknown log target %q (use auto, syslog or stderr)", t)
}

// New returns the logger of a daemon called tag, at level and above. To
// syslog (target syslog, or auto under procd, which would otherwise log
// every line of stderr as daemon.err with a second timestamp) the records
// go through a SyslogHandler on DevLog; to stderr as slog's text lines.
// When syslog cannot be reached it logs to stderr and says so there.
func New(target, tag string, level slog.Leveler, stderr io.Writer) *slog.Logger {
	return NewAt(DevLog, target, tag, level, stderr)
}

// NewAt is New with the syslog socket at devLog.
func NewAt(devLog, target, tag string, level slog.Leveler, stderr io.Writer) *slog.Logger {
	text := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if target != TargetSyslog && (target == TargetStderr || !parentIs("procd")) {
		return text
	}
	h, err := DialSyslog(devLog, tag, level, stderr)
	if err != nil {
		text.Warn("logging to stderr", "err", err)
		return text
	}
	return slog.New(h)
}

// parentIs reports whether this process's parent is the program called
// name (Linux; false elsewhere).
func parentIs(name string) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getppid()) + "/comm")
	return err == nil && strings.TrimSpace(string(comm)) == name
}
