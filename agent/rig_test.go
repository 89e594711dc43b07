package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/report"
)

// natFlow is one flow through the router's NAT: one UDP mapping.
var natFlow = conntrackmap.Flow{Proto: conntrackmap.UDP,
	Orig:  conntrackmap.Tuple{Src: ap("198.51.100.10:4000"), Dst: ap("203.0.113.10:3478")},
	Reply: conntrackmap.Tuple{Src: ap("203.0.113.10:3478"), Dst: ap("203.0.113.1:4000")}}

// runWait bounds every wait of these tests for the daemon.
const runWait = 10 * time.Second

// rig is an agent in enforce mode on fakes: no root, no kernel; its
// control socket is in a temporary directory.
type rig struct {
	a     *Agent
	calls *calls
	src   *fakeSource
	enf   *fakeEnforcer
	path  string // the control socket

	// wanLast is the last byte of the WAN's address, 203.0.113.x; the
	// address watch bumps it before each call.
	wanLast atomic.Uint32
	// wanErr, if set, is the error the wan hook returns instead.
	wanErr atomic.Pointer[error]
	kick   chan struct{} // the address watch reports a change for each
	storm  bool          // the address watch reports changes without pause
	mu     sync.Mutex
	ln     net.Listener // the control socket's listener
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c := &calls{}
	r := &rig{calls: c, src: newFakeSource(c, natFlow), enf: &fakeEnforcer{calls: c},
		path: filepath.Join(t.TempDir(), "agent.sock"), kick: make(chan struct{})}
	r.src.onFill, r.src.onEvents = r.enf.Resynced, r.enf.Events
	r.a = &Agent{cfg: Config{Socket: r.path, WAN: "wan0", Now: time.Now, System: fixture,
		Enforce: &EnforceConfig{Mapping: true}}, log: logx.Discard(), host: "test",
		table: conntrackmap.New(conntrackmap.Config{}), source: r.src, enforcer: r.enf}
	r.a.hooks = hooks{listen: r.listen, wan: r.wan, watchAddrs: r.watch,
		removeVantage: func() error { c.add("remove vantage"); return nil }}
	r.wanLast.Store(1)
	wan, _ := r.wan("wan0")
	r.a.wan.Store(&wan)
	return r
}

// observe turns r's agent into observe mode: no enforcer.
func (r *rig) observe() {
	r.a.enforcer, r.a.cfg.Enforce = nil, nil
	r.src.onFill, r.src.onEvents = nil, nil
}

func (r *rig) listen(path string) (net.Listener, error) {
	ln, err := listen(path)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ln = ln
	return ln, err
}

func (r *rig) listener() net.Listener {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ln
}

func (r *rig) wan(name string) (report.Interface, error) {
	if err := r.wanErr.Load(); err != nil {
		return report.Interface{}, *err
	}
	addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(r.wanLast.Load())})
	return report.Interface{Name: name, Addrs: []netip.Addr{addr}}, nil
}

// watch is the address watch: a change for each kick, or a storm of them.
func (r *rig) watch(ctx context.Context, _ *slog.Logger, changed func()) error {
	for {
		if r.storm {
			r.wanLast.Add(1)
			changed()
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
			r.wanLast.Add(1)
			changed()
		}
	}
}

// running is a Run in progress.
type running struct {
	ready    chan struct{}
	cancel   context.CancelFunc
	finished chan struct{} // closed when Run returned
	err      error         // Run's result, once finished
}

// start runs r's agent; the test's end cancels it and waits for Run.
func (r *rig) start(t *testing.T) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &running{ready: make(chan struct{}), cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(d.finished)
		d.err = r.a.Run(ctx, d.ready)
		r.calls.add("run returned")
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.finished:
		case <-time.After(runWait):
			t.Error("Run did not return after the test")
		}
	})
	return d
}

// waitReady waits for ready.
func (d *running) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-d.ready:
	case <-d.finished:
		t.Fatalf("Run returned before ready: %v", d.err)
	case <-time.After(runWait):
		t.Fatal("not ready")
	}
}

// wait waits for Run's result.
func (d *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-d.finished:
		return d.err
	case <-time.After(runWait):
		t.Fatal("Run did not return")
		return nil
	}
}

// ask sends one request to the control socket at path and returns the
// reply, or an error when nothing answers.
func ask(path, cmd string) (response, error) {
	var resp response
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return resp, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(runWait))
	if err := json.NewEncoder(c).Encode(request{Cmd: cmd}); err != nil {
		return resp, err
	}
	err = json.NewDecoder(c).Decode(&resp)
	return resp, err
}

// inOrder checks that each name was called, after the one before it.
func inOrder(t *testing.T, c *calls, names ...string) {
	t.Helper()
	last := -1
	for _, name := range names {
		i := c.index(name)
		if i <= last {
			t.Fatalf("%q is not after %v in %q", name, names, c.list())
		}
		last = i
	}
}

// socketClosed checks that nothing answers on path.
func socketClosed(t *testing.T, path string) {
	t.Helper()
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		t.Errorf("the control socket %s still answers", path)
	}
}
