package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/report"
)

// logBuffer collects a logger's lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// netlinkRIBError is the error net.InterfaceByName returns when the
// netlink dump it makes fails with errno.
func netlinkRIBError(errno syscall.Errno) error {
	return &net.OpError{Op: "route", Net: "ip+net", Err: os.NewSyscallError("netlinkrib", errno)}
}

// TestRefreshWANKeepsAddressesWhenUnread: a read of the WAN that fails
// for want of resources (the process out of file descriptors, the kernel
// out of buffers) or is interrupted says nothing of the addresses: they,
// the pins and the table stay, once logged; only the WAN gone is an answer.
func TestRefreshWANKeepsAddressesWhenUnread(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		answer bool // the read is an answer: the addresses go
	}{
		{"EMFILE", netlinkRIBError(syscall.EMFILE), false},
		{"ENFILE", netlinkRIBError(syscall.ENFILE), false},
		{"ENOBUFS", fmt.Errorf("read the addresses of %q: %w", "wan0", netlinkRIBError(syscall.ENOBUFS)), false},
		{"EINTR", netlinkRIBError(syscall.EINTR), false},
		{"ENOMEM", netlinkRIBError(syscall.ENOMEM), false},
		{"gone", fmt.Errorf("%w: no interface %q", errWANGone, "wan0"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			var logs logBuffer
			r.a.log = logs.logger()
			d := r.start(t)
			d.waitReady(t)
			before := r.a.wan.Load().Addrs
			r.wanErr.Store(&tt.err)
			for range 3 {
				if got := r.a.refreshWAN(); got != tt.answer {
					t.Errorf("refreshWAN = %v, want %v", got, tt.answer)
				}
			}
			after := r.a.wan.Load().Addrs
			retained := r.calls.index("retain") >= 0
			if tt.answer {
				if len(after) != 0 || !retained {
					t.Errorf("WAN gone: addresses %v, pins retained %v; want none and the pins dropped", after, retained)
				}
				return
			}
			if diff := cmp.Diff(before, after, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" || retained {
				t.Errorf("after %s the addresses changed (-before +after):\n%s\npins dropped: %v", tt.name, diff, retained)
			}
			var errno syscall.Errno
			errors.As(tt.err, &errno)
			if n := strings.Count(logs.String(), "cannot read the WAN addresses"); n != 1 || !strings.Contains(logs.String(), errno.Error()) {
				t.Errorf("logged %d warnings, want 1 naming %q:\n%s", n, errno, logs.String())
			}
			r.wanErr.Store(nil)
			if !r.a.refreshWAN() || !strings.Contains(logs.String(), "WAN addresses read again") {
				t.Errorf("a good read after the failures is not logged:\n%s", logs.String())
			}
		})
	}
}

// TestReadWAN: a WAN that does not exist is errWANGone, an answer, even
// when the dump of every link fails (it did, with EINVAL, while other
// packages' tests ran): the kernel is then asked for that one name.
func TestReadWAN(t *testing.T) {
	if !noSuchLink("np-none0") || noSuchLink("lo") {
		t.Errorf("noSuchLink: np-none0 %v, lo %v; want true, false", noSuchLink("np-none0"), noSuchLink("lo"))
	}
	if _, err := readWAN("np-none0"); !errors.Is(err, errWANGone) {
		t.Errorf("readWAN(missing) = %v, want errWANGone", err)
	}
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		t.Skip("no interfaces to read")
	}
	if got, err := readWAN(ifs[0].Name); err != nil || got.Name != ifs[0].Name || got.Addrs == nil {
		t.Errorf("readWAN(%s) = %+v, %v", ifs[0].Name, got, err)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	b.reset()
	got = append(got, b.next())
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, 100 * ms}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestTransient(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{opError("dial", os.NewSyscallError("socket", syscall.EMFILE)), true},
		{opError("dump", syscall.ENOBUFS), true},
		{opError("dump", syscall.EINTR), true},
		{opError("dump", errDumpInterrupted), true},
		{netlinkRIBError(syscall.ENFILE), true},
		{opError("dial", syscall.EPERM), false},
		{opError("dial", syscall.EPROTONOSUPPORT), false},
		{errors.New("bad message"), false},
		{nil, false},
	} {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// session is one scripted session of Source.loop.
type session struct {
	filled bool
	err    error
}

// TestSourceLoopRetries: the source keeps running through transient
// failures (out of file descriptors, buffers, an interrupted dump),
// logged, with growing waits; a resync or an overflow starts over at
// once; anything else stops it.
func TestSourceLoopRetries(t *testing.T) {
	emfile := opError("dial", os.NewSyscallError("socket", syscall.EMFILE))
	eperm := opError("dial", syscall.EPERM)
	script := []session{{false, emfile}, {false, opError("dump", syscall.ENOBUFS)}, {true, errOverflow},
		{true, errResync}, {false, opError("dump", errDumpInterrupted)}, {true, emfile}, {false, eperm}}
	var logs logBuffer
	s := NewSource(SourceConfig{Logger: logs.logger()})
	var firsts []bool
	var waits []time.Duration
	s.sleep = func(_ context.Context, d time.Duration) bool { waits = append(waits, d); return true }
	err := s.loop(context.Background(), func(first bool) (bool, error) {
		firsts = append(firsts, first)
		next := script[0]
		script = script[1:]
		return next.filled, next.err
	})
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("loop = %v, want the EPERM that is no transient failure", err)
	}
	if diff := cmp.Diff([]bool{true, true, true, false, false, false, false}, firsts); diff != "" {
		t.Errorf("first (-want +got):\n%s", diff)
	}
	// No wait after the overflow and the resync; the first after a dump
	// came in is short again.
	ms := time.Millisecond
	if diff := cmp.Diff([]time.Duration{100 * ms, 200 * ms, 100 * ms, 100 * ms}, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if n := strings.Count(logs.String(), "conntrack failed for now"); n != 4 || !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("logged %d transient failures, want 4 naming them:\n%s", n, logs.String())
	}
	if s.Stats().Overflows != 1 {
		t.Errorf("overflows = %d, want 1", s.Stats().Overflows)
	}
}

// TestSourceLoopStops: a wait ends when ctx is done, without an error.
func TestSourceLoopStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := NewSource(SourceConfig{})
	done := make(chan error)
	go func() {
		done <- s.loop(ctx, func(bool) (bool, error) { return false, opError("dial", syscall.EMFILE) })
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("loop = %v after ctx was done, want nil", err)
		}
	case <-time.After(time.Second):
		t.Fatal("loop did not return after ctx was done")
	}
}

// TestWarnsOfWANWithoutAddress: a daemon started on a WAN without an IPv4
// address says so, in one line; with one it says nothing of it.
func TestWarnsOfWANWithoutAddress(t *testing.T) {
	for _, tt := range []struct {
		name  string
		addrs []netip.Addr
		want  int
	}{
		{"none", []netip.Addr{}, 1},
		{"IPv6 only", []netip.Addr{netip.MustParseAddr("2001:db8::1")}, 1},
		{"IPv4", []netip.Addr{netip.MustParseAddr("203.0.113.1")}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			var logs logBuffer
			r.a.log = logs.logger()
			r.a.wan.Store(&report.Interface{Name: "wan0", Addrs: tt.addrs})
			r.start(t).waitReady(t)
			lines := strings.Count(logs.String(), "has no IPv4 address")
			if lines != tt.want || strings.Contains(logs.String(), "\n\t") {
				t.Errorf("%d warnings of a WAN without an address, want %d:\n%s", lines, tt.want, logs.String())
			}
		})
	}
}
