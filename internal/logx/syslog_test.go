package logx

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logd listens like OpenWrt's logd: a unix datagram socket in a temp dir.
func logd(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next reads one datagram.
func next(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 2048)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

// dial returns a handler at debug level with a fixed clock.
func dial(t *testing.T, path string, fallback *bytes.Buffer) *SyslogHandler {
	t.Helper()
	h, err := DialSyslog(path, "natp2p-agent", slog.LevelDebug, fallback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.out.now = func() time.Time { return time.Date(2026, 12, 7, 9, 5, 3, 0, time.UTC) }
	return h
}

// TestSyslogFormat checks the datagrams logd receives: RFC 3164 priority
// (facility daemon, severity from the level), a timestamp logd strips (its
// 16th character a space), tag[pid], the message, then the attributes.
func TestSyslogFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	c := logd(t, path)
	l := slog.New(dial(t, path, &bytes.Buffer{}))
	head := "Dec  7 09:05:03 natp2p-agent[" + strconv.Itoa(os.Getpid()) + "]: "
	tests := []struct {
		name string
		log  func()
		want string
	}{
		{"debug", func() { l.Debug("probe sent", "to", "192.0.2.1:3478") }, "<31>" + head + "probe sent to=192.0.2.1:3478"},
		{"info", func() { l.Info("started", "mode", "observe", "wan", "eth0") }, "<30>" + head + "started mode=observe wan=eth0"},
		{"warn", func() { l.Warn("events overflowed") }, "<28>" + head + "events overflowed"},
		{"error", func() { l.Error("conntrack", "err", "no such module") }, "<27>" + head + `conntrack err="no such module"`},
		{"with attrs and group", func() { l.With("component", "enforce").WithGroup("pin").Info("added", "port", 5000) },
			"<30>" + head + "added component=enforce pin.port=5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.log()
			got := next(t, c)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("datagram (-want +got):\n%s", diff)
			}
			if rest := got[len("<30>"):]; rest[15] != ' ' {
				t.Errorf("logd strips the first 16 characters only when the 16th is a space: %q", rest)
			}
		})
	}
}

func TestSyslogLevel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	logd(t, path)
	h, err := DialSyslog(path, "natp2p-agent", slog.LevelWarn, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("a warn-level handler must log warnings and not info")
	}
}

// TestSyslogRedial checks that a restarted logd gets the next line, and
// that without one the line goes to the fallback writer.
func TestSyslogRedial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	c := logd(t, path)
	var fallback bytes.Buffer
	l := slog.New(dial(t, path, &fallback))
	c.Close()
	os.Remove(path)
	c = logd(t, path)
	l.Info("after restart")
	if got := next(t, c); !bytes.HasSuffix([]byte(got), []byte("]: after restart")) {
		t.Errorf("after logd restarted: %q", got)
	}
	c.Close()
	os.Remove(path)
	l.Info("nobody listens")
	if !bytes.HasSuffix(fallback.Bytes(), []byte("]: nobody listens\n")) {
		t.Errorf("fallback got %q", fallback.String())
	}
}

func TestDialSyslogNoSocket(t *testing.T) {
	if _, err := DialSyslog(filepath.Join(t.TempDir(), "none"), "x", slog.LevelInfo, &bytes.Buffer{}); err == nil {
		t.Error("dialling a missing socket succeeded")
	}
}

func TestNewTargets(t *testing.T) {
	devLog := filepath.Join(t.TempDir(), "log")
	tests := []struct {
		name, target string
		listen       bool
		syslog       bool // want a SyslogHandler
		stderr       string
	}{
		{"stderr", TargetStderr, true, false, "level=INFO msg=hello\n"},
		{"auto outside procd", TargetAuto, true, false, "level=INFO msg=hello\n"},
		{"syslog", TargetSyslog, true, true, ""},
		{"syslog unreachable", TargetSyslog, false, false, "level=WARN msg=\"logging to stderr\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.listen {
				logd(t, devLog)
				t.Cleanup(func() { os.Remove(devLog) })
			}
			var stderr bytes.Buffer
			l := NewAt(devLog, tt.target, "natp2p-agent", slog.LevelInfo, &stderr)
			if _, ok := l.Handler().(*SyslogHandler); ok != tt.syslog {
				t.Errorf("syslog handler: %v, want %v", ok, tt.syslog)
			}
			l.Info("hello")
			if !bytes.Contains(stderr.Bytes(), []byte(tt.stderr)) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	for _, ok := range []string{"", TargetAuto, TargetSyslog, TargetStderr} {
		if err := CheckTarget(ok); err != nil {
			t.Errorf("CheckTarget(%q): %v", ok, err)
		}
	}
	if err := CheckTarget("journal"); err == nil {
		t.Error("CheckTarget accepted journal")
	}
}
