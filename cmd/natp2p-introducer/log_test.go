package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLogTarget checks where the introducer's records go: with
// --log-target syslog one datagram per record to the syslog socket, its
// priority facility daemon with the record's severity (logread shows
// daemon.debug ... daemon.err) and no timestamp of its own in the message;
// with stderr, slog's text lines.
func TestLogTarget(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	logd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer logd.Close()
	devLog = sock
	t.Cleanup(func() { devLog = "/dev/log" })

	var stderr bytes.Buffer
	cfg, err := parseFlags([]string{"--primary", "203.0.113.10", "--log-target", "syslog", "--log-level", "debug"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	tag := " natp2p-introducer[" + strconv.Itoa(os.Getpid()) + "]: "
	tests := []struct {
		log       func()
		pri, rest string
	}{
		{func() { cfg.Logger.Debug("tcp closed", "from", "198.51.100.7:4000") }, "<31>", "tcp closed from=198.51.100.7:4000"},
		{func() { cfg.Logger.Info("summary", "requests", 12) }, "<30>", "summary requests=12"},
		{func() { cfg.Logger.Warn("rate limited", "source", "198.51.100.7") }, "<28>", "rate limited source=198.51.100.7"},
		{func() { cfg.Logger.Error("read", "err", "closed") }, "<27>", "read err=closed"},
	}
	buf := make([]byte, 2048)
	for _, tt := range tests {
		tt.log()
		if err := logd.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := logd.Read(buf)
		if err != nil {
			t.Fatalf("no datagram for %q: %v", tt.rest, err)
		}
		got := string(buf[:n])
		// "<PRI>" then "Mmm dd hh:mm:ss" (15 characters, which logd strips), tag[pid]: message attrs
		if !strings.HasPrefix(got, tt.pri) || len(got) < len(tt.pri)+15 || got[len(tt.pri)+15:] != tag+tt.rest {
			t.Errorf("datagram %q, want %s<timestamp>%s%s", got, tt.pri, tag, tt.rest)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr got %q with syslog reachable", stderr.String())
	}

	stderr.Reset()
	cfg, err = parseFlags([]string{"--primary", "203.0.113.10", "--log-target", "stderr"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger.Info("summary")
	if !strings.Contains(stderr.String(), "level=INFO msg=summary") {
		t.Errorf("--log-target stderr wrote %q", stderr.String())
	}

	if _, err := parseFlags([]string{"--primary", "203.0.113.10", "--log-target", "journal"}, &stderr); err == nil ||
		!strings.Contains(err.Error(), `unknown log target "journal"`) {
		t.Errorf("--log-target journal: %v", err)
	}
}
