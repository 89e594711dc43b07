//go:build linux

package agent

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeAddrConn hands out msgs once, then blocks until closed.
type fakeAddrConn struct {
	msgs   []netlink.Message
	closed chan struct{}
}

func (c *fakeAddrConn) Receive() ([]netlink.Message, error) {
	if m := c.msgs; m != nil {
		c.msgs = nil
		return m, nil
	}
	<-c.closed
	return nil, errors.New("use of closed file")
}

func (c *fakeAddrConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

// TestWatchAddrsRetries: the address watch outlives a process out of file
// descriptors: it logs the failure, opens its socket again once it can and
// looks at the addresses then, as changes may have been missed. A failure
// that is no shortage ends it.
func TestWatchAddrsRetries(t *testing.T) {
	newAddr := netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWADDR}}
	var dials atomic.Int32
	dial := func() (addrConn, error) {
		switch dials.Add(1) {
		case 1, 2:
			return nil, os.NewSyscallError("socket", unix.EMFILE)
		case 3:
			return &fakeAddrConn{msgs: []netlink.Message{newAddr}, closed: make(chan struct{})}, nil
		}
		return nil, unix.EPROTONOSUPPORT
	}
	var logs logBuffer
	var changes atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- watchAddrsOn(ctx, dial, logs.logger(), func() { changes.Add(1) }) }()
	deadline := time.Now().Add(2 * time.Second)
	for changes.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch = %v after ctx was done, want nil", err)
	}
	if n := changes.Load(); n != 2 {
		t.Errorf("%d changes reported, want 2 (the socket back, then the new address)", n)
	}
	if n := strings.Count(logs.String(), "too many open files"); n != 2 {
		t.Errorf("%d failures logged, want 2:\n%s", n, logs.String())
	}

	dials.Store(3)
	err := watchAddrsOn(context.Background(), dial, logs.logger(), func() {})
	if !errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Errorf("watch = %v, want EPROTONOSUPPORT, which no retry mends", err)
	}
}
