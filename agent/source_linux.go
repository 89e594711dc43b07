//go:build linux

package agent

import (
	"context"
	"errors"

	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

// eventBatch bounds how many queued events are applied under one lock.
const eventBatch = 256

// eventQueue is how many decoded events wait for the table. Bursts queue in
// the kernel's socket buffer instead, where an event is a compact netlink
// message rather than a decoded conntrack.Flow on the Go heap.
const eventQueue = 512

// Run fills t from a dump and keeps it equal to the kernel's table from
// events until ctx is done. When the kernel drops events it resyncs: a new
// subscription, a new dump, t.Replace. A transient failure (see loop) is
// retried with backoff, t kept meanwhile. ready, if non-nil, is closed
// after the first dump is in t. Run returns nil when ctx is done, or the
// error that stopped it.
func (s *Source) Run(ctx context.Context, t *conntrackmap.Table, ready chan<- struct{}) error {
	return s.loop(ctx, func(first bool) (bool, error) {
		sub, err := s.subscribe()
		if err != nil {
			return false, err
		}
		defer sub.close()
		return s.sync(ctx, sub, t, first, ready)
	})
}

// sync dumps into t, then applies sub's events until an error. filled
// reports whether the dump got into t.
func (s *Source) sync(ctx context.Context, sub *subscription, t *conntrackmap.Table, first bool, ready chan<- struct{}) (filled bool, err error) {
	n, err := fill(ctx, s, t)
	if err != nil {
		return false, err
	}
	if s.cfg.OnFill != nil {
		s.cfg.OnFill()
	}
	if first {
		if ready != nil {
			close(ready)
		}
		s.log.Info("following conntrack", "flows", n, "read_buffer", s.cfg.ReadBuffer)
	} else {
		s.resyncs.Add(1)
		s.log.Info("resynced from a dump", "flows", n, "resyncs", s.resyncs.Load())
	}
	return true, s.follow(ctx, sub, t)
}

// follow applies events in batches until ctx is done or the socket fails.
func (s *Source) follow(ctx context.Context, sub *subscription, t *conntrackmap.Table) error {
	batch := make([]conntrackmap.Event, 0, eventBatch)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-sub.errs:
			if errors.Is(err, unix.ENOBUFS) {
				return errOverflow
			}
			return opError("listen", err)
		case <-s.resync:
			return errResync
		case ev := <-sub.events:
			batch = s.cfg.Filter.Batch(batch[:0], &ev, sub.events, eventBatch)
			t.ApplyAll(batch)
			s.events.Add(uint64(len(batch)))
			if s.cfg.OnEvents != nil && len(batch) > 0 {
				s.cfg.OnEvents(batch)
			}
		}
	}
}

// subscription is one event socket with its single decoding worker (one
// worker keeps the kernel's order of events).
type subscription struct {
	conn   *conntrack.Conn
	events chan conntrack.Event
	errs   chan error
}

func (s *Source) subscribe() (*subscription, error) {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return nil, opError("dial", err)
	}
	if err := c.SetReadBuffer(s.cfg.ReadBuffer); err != nil {
		c.Close()
		return nil, opError("set read buffer", err)
	}
	sub := &subscription{conn: c, events: make(chan conntrack.Event, eventQueue), errs: make(chan error)}
	groups := []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTDestroy}
	if s.cfg.Updates {
		groups = append(groups, netfilter.GroupCTUpdate)
	}
	errs, err := c.Listen(sub.events, 1, groups)
	if err != nil {
		c.Close()
		return nil, opError("listen", err)
	}
	sub.errs = errs
	return sub, nil
}

// close closes the socket. The worker may be blocked handing over an event
// or an error, and Close waits for it, so both channels are drained
// meanwhile.
func (sub *subscription) close() {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sub.events:
			case <-sub.errs:
			case <-done:
				return
			}
		}
	}()
	sub.conn.Close()
	close(done)
}
