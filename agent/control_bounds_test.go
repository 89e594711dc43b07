package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireRoot skips a test that needs the control socket to answer: it
// answers root only.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the control socket answers root only; run as root")
	}
}

// dialControl opens a connection to the control socket at path.
func dialControl(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// reply reads the one reply on c, within wait.
func reply(t *testing.T, c net.Conn, wait time.Duration) response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	var resp response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		t.Fatalf("no reply within %v: %v", wait, err)
	}
	return resp
}

// TestControlCapsConnections: connections beyond maxControlConns are
// answered "busy" and closed at once; the slots come back when the
// connections holding them end.
func TestControlCapsConnections(t *testing.T) {
	requireRoot(t)
	path := serveTest(t, testAgent(t))
	var held []net.Conn
	for range maxControlConns {
		held = append(held, dialControl(t, path))
	}
	time.Sleep(50 * time.Millisecond) // the daemon accepts them all
	extra := dialControl(t, path)
	if resp := reply(t, extra, 500*time.Millisecond); resp.Error != errBusy {
		t.Errorf("connection %d: reply %+v, want %q", maxControlConns+1, resp, errBusy)
	}
	for _, c := range held {
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		r, _, err := Query(context.Background(), path, "report")
		if err == nil && r != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the connections closed, report: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestControlBoundsRequests: a request longer than maxRequest, and one
// that trickles, are cut short with a one-line error.
func TestControlBoundsRequests(t *testing.T) {
	requireRoot(t)
	path := serveTest(t, testAgent(t))
	t.Run("long", func(t *testing.T) {
		c := dialControl(t, path)
		go func() { // a 64 MB request: the daemon must not read it all
			c.Write([]byte(`{"cmd":"`))
			chunk := bytes.Repeat([]byte("a"), 1<<20)
			for range 64 {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		if resp := reply(t, c, 2*time.Second); !strings.Contains(resp.Error, "longer than") {
			t.Errorf("reply %+v, want a request too long", resp)
		}
	})
	t.Run("trickle", func(t *testing.T) {
		c := dialControl(t, path)
		start := time.Now()
		go func() { // a byte every 100 ms, for 5 s
			for _, b := range []byte(`{"cmd":"report.................................."}`) {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		resp := reply(t, c, 4*time.Second)
		if took := time.Since(start); took > requestTimeout+2*time.Second || !strings.Contains(resp.Error, "timeout") {
			t.Errorf("reply %+v after %v, want a timeout after %v", resp, took, requestTimeout)
		}
	})
}

// TestListenReplacesOnlySockets: the control socket's path replaces a
// stale socket, never a file, a directory or a link.
func TestListenReplacesOnlySockets(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"file", func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o600) }, "a regular file"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "a directory"},
		{"link", func(p string) error { return os.Symlink(filepath.Join(dir, "elsewhere"), p) }, "a symbolic link"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := tt.make(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Lstat(path)
			ln, err := listen(path)
			if err == nil {
				ln.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "is not a socket ("+tt.want+")") || strings.Contains(err.Error(), "\n") {
				t.Errorf("listen over %s: %v, want a one-line refusal", tt.want, err)
			}
			if after, err := os.Lstat(path); err != nil || after.Mode() != before.Mode() {
				t.Errorf("listen replaced %s: %v", tt.want, err)
			}
		})
	}
}
