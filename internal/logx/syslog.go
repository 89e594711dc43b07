package logx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// DevLog is where syslog daemons (OpenWrt's logd, busybox syslogd,
// journald) take messages: a unix datagram socket.
const DevLog = "/dev/log"

// facilityDaemon is syslog's daemon facility (RFC 3164 section 4.1.1),
// shifted into place.
const facilityDaemon = 3 << 3

// Syslog severities (RFC 3164 section 4.1.1).
const (
	sevErr     = 3
	sevWarning = 4
	sevInfo    = 6
	sevDebug   = 7
)

// severity maps a slog level to a syslog severity: debug, info, warning,
// err, as logread shows them (daemon.debug ... daemon.err).
func severity(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return sevDebug
	case l < slog.LevelWarn:
		return sevInfo
	case l < slog.LevelError:
		return sevWarning
	}
	return sevErr
}

// SyslogHandler is a slog.Handler that sends each record as one RFC 3164
// datagram to a syslog socket: "<PRI>Mmm dd hh:mm:ss tag[pid]: message
// key=value ...", with facility daemon and the severity of the record's
// level, the attributes on the same line as slog's text handler writes
// them. OpenWrt's logd (ubox log/syslog.c) strips the priority and the
// 16 characters of the timestamp and stamps the line with its own time,
// so logread shows one timestamp. logd keeps at most 1023 bytes of a
// datagram. When a send fails the handler dials again once, then writes
// the line to its fallback writer (stderr) instead.
type SyslogHandler struct {
	attrs slog.Handler // formats the attributes into out.attrs
	out   *syslogOut
}

// syslogOut is the state the handlers derived by WithAttrs and WithGroup
// share.
type syslogOut struct {
	mu       sync.Mutex
	path     string
	conn     net.Conn
	tag      string
	pid      int
	fallback io.Writer
	now      func() time.Time
	attrs    bytes.Buffer // what the attrs handler wrote for the record being sent
}

// DialSyslog connects to the syslog socket at path (DevLog on a router)
// and returns a handler that logs records at level and above, tagged tag
// and this process's pid.
func DialSyslog(path, tag string, level slog.Leveler, fallback io.Writer) (*SyslogHandler, error) {
	conn, err := net.Dial("unixgram", path)
	if err != nil {
		return nil, fmt.Errorf("logx: syslog: %w", err)
	}
	out := &syslogOut{path: path, conn: conn, tag: tag, pid: os.Getpid(), fallback: fallback, now: time.Now}
	attrs := slog.NewTextHandler(&out.attrs, &slog.HandlerOptions{Level: level, ReplaceAttr: dropBuiltins})
	return &SyslogHandler{attrs: attrs, out: out}, nil
}

// dropBuiltins leaves only the record's own attributes to the text
// handler: the time is syslog's, the level is in the priority, and the
// message comes first, unquoted.
func dropBuiltins(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
		return slog.Attr{}
	}
	return a
}

// Enabled reports whether the handler logs records at level l.
func (h *SyslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.attrs.Enabled(ctx, l)
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *SyslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &SyslogHandler{attrs: h.attrs.WithAttrs(attrs), out: h.out}
}

// WithGroup returns a handler that puts the record's attributes in group
// name.
func (h *SyslogHandler) WithGroup(name string) slog.Handler {
	return &SyslogHandler{attrs: h.attrs.WithGroup(name), out: h.out}
}

// Handle sends r as one datagram.
func (h *SyslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.attrs.Reset()
	if err := h.attrs.Handle(ctx, r); err != nil {
		return err
	}
	return h.out.send(h.out.line(r))
}

// line formats r with the attributes the text handler wrote.
func (o *syslogOut) line(r slog.Record) []byte {
	b := make([]byte, 0, 64+len(r.Message)+o.attrs.Len())
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facilityDaemon|severity(r.Level)), 10)
	b = append(b, '>')
	b = o.now().AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, o.tag...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(o.pid), 10)
	b = append(b, "]: "...)
	b = append(b, r.Message...)
	if attrs := bytes.TrimSpace(o.attrs.Bytes()); len(attrs) > 0 {
		b = append(b, ' ')
		b = append(b, attrs...)
	}
	return b
}

// send writes the datagram, dialling again once if the socket went away
// (logd restarted), else writing it to the fallback writer.
func (o *syslogOut) send(b []byte) error {
	if _, err := o.conn.Write(b); err == nil {
		return nil
	}
	if conn, err := net.Dial("unixgram", o.path); err == nil {
		o.conn.Close()
		o.conn = conn
		if _, err := conn.Write(b); err == nil {
			return nil
		}
	}
	_, err := fmt.Fprintf(o.fallback, "%s\n", b)
	return err
}

// Close closes the syslog socket.
func (h *SyslogHandler) Close() error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	return h.out.conn.Close()
}
