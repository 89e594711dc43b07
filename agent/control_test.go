package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/report"
)

// testAgent is an agent with a table of its own and no kernel source.
func testAgent(t *testing.T) *Agent {
	t.Helper()
	a := &Agent{cfg: Config{Now: time.Now, System: fixture}, log: logx.Discard(), host: "test",
		table: conntrackmap.New(conntrackmap.Config{}), source: NewSource(SourceConfig{})}
	a.wan.Store(&report.Interface{Name: "wan"})
	return a
}

func serveTest(t *testing.T, a *Agent) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	ln, err := listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path
}

func TestControlRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the control socket answers root only; run as root")
	}
	a := testAgent(t)
	a.table.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: conntrackmap.Flow{Proto: conntrackmap.UDP,
		Orig:  conntrackmap.Tuple{Src: ap("198.51.100.10:4000"), Dst: ap("203.0.113.10:3478")},
		Reply: conntrackmap.Tuple{Src: ap("203.0.113.10:3478"), Dst: ap("203.0.113.1:4000")}}})
	path := serveTest(t, a)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode = %v, %v; want 0600", fi.Mode(), err)
	}
	r, _, err := Query(context.Background(), path, "report")
	if err != nil || r == nil || r.Source != report.SourceDaemon || r.Mappings.UDP != 1 {
		t.Fatalf("Query(report) = %+v, %v; want a daemon report with one UDP mapping", r, err)
	}
	_, ms, err := Query(context.Background(), path, "mappings")
	if err != nil || len(ms) != 1 || ms[0].Private != ap("198.51.100.10:4000") {
		t.Fatalf("Query(mappings) = %+v, %v", ms, err)
	}
	if _, _, err := Query(context.Background(), path, "reboot"); err == nil {
		t.Error("Query(reboot): no error for an unknown command")
	}
	if _, err := listen(path); !errors.Is(err, errAlreadyRunning) {
		t.Errorf("second listen on a live socket: %v, want errAlreadyRunning", err)
	}
}

func TestQueryWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Query(context.Background(), filepath.Join(dir, "none.sock"), "report"); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("missing socket: %v, want ErrNoDaemon", err)
	}
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, _, err := Query(context.Background(), stale, "report"); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("stale socket: %v, want ErrNoDaemon", err)
	}
	ln, err = listen(stale) // replaces the stale socket
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	ln.Close()
}
