package agent

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
	"github.com/natp2p/natp2p/report"
)

// calls records what the fakes were asked, and when Run returned, in one
// sequence.
type calls struct {
	mu  sync.Mutex
	log []string
}

func (c *calls) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, name)
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

// index is the position of name's first call, or -1.
func (c *calls) index(name string) int { return slices.Index(c.list(), name) }

// ruleChanges are the enforcer's calls that may change rules.
var ruleChanges = []string{"enforcer start", "events", "resynced", "missed", "retain"}

// changesAfter lists the rule changes recorded after name's first call.
func (c *calls) changesAfter(name string) []string {
	l := c.list()
	i := slices.Index(l, name)
	if i < 0 {
		return nil
	}
	var after []string
	for _, s := range l[i+1:] {
		if slices.Contains(ruleChanges, s) {
			after = append(after, s)
		}
	}
	return after
}

// fakeEnforcer records its calls; its Run returns when ctx is done.
type fakeEnforcer struct {
	calls    *calls
	startErr error // Start's result
}

func (f *fakeEnforcer) Start() error { f.calls.add("enforcer start"); return f.startErr }

func (f *fakeEnforcer) Run(ctx context.Context) {
	f.calls.add("enforcer run")
	<-ctx.Done()
	f.calls.add("enforcer returned")
}

func (f *fakeEnforcer) Events([]conntrackmap.Event)  { f.calls.add("events") }
func (f *fakeEnforcer) Resynced()                    { f.calls.add("resynced") }
func (f *fakeEnforcer) Missed(conntrackmap.Flow)     { f.calls.add("missed") }
func (f *fakeEnforcer) Retain(func(netip.Addr) bool) { f.calls.add("retain") }
func (f *fakeEnforcer) Status() status.Status        { return status.Status{Backend: "fake"} }

// fakeSource fills the table with flows from each dump, as Source.Run
// does, and calls the enforcer as a Source configured by New would.
type fakeSource struct {
	calls    *calls
	flows    []conntrackmap.Flow
	onFill   func()                     // SourceConfig.OnFill
	onEvents func([]conntrackmap.Event) // SourceConfig.OnEvents; with feed
	// feed, if set, sends a batch of events every feed after the first
	// dump until ctx is done.
	feed time.Duration
	// fail, if set, is what Run returns after the first dump.
	fail error
	// blocked, if non-nil, makes every dump after the first block until
	// ctx is done, and is closed when one does.
	blocked chan struct{}

	dumps, resyncs atomic.Uint64
	resync         chan struct{}
}

func newFakeSource(c *calls, flows ...conntrackmap.Flow) *fakeSource {
	return &fakeSource{calls: c, flows: flows, resync: make(chan struct{}, 1)}
}

func (f *fakeSource) Run(ctx context.Context, t *conntrackmap.Table, ready chan<- struct{}) error {
	f.calls.add("source run")
	defer f.calls.add("source returned")
	for first := true; ; first = false {
		if _, err := fill(ctx, f, t); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if f.onFill != nil {
			f.onFill()
		}
		if first && ready != nil {
			close(ready)
		}
		if f.fail != nil {
			return f.fail
		}
		if !f.follow(ctx) {
			return nil
		}
		f.resyncs.Add(1)
	}
}

// follow feeds events until ctx is done (false) or a resync is asked
// for (true).
func (f *fakeSource) follow(ctx context.Context) bool {
	var tick <-chan time.Time
	if f.feed > 0 {
		t := time.NewTicker(f.feed)
		defer t.Stop()
		tick = t.C
	}
	ev := conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f.flows[0]}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-f.resync:
			return true
		case <-tick:
			f.onEvents([]conntrackmap.Event{ev})
		}
	}
}

func (f *fakeSource) dump(ctx context.Context, add func(conntrackmap.Flow)) error {
	if f.dumps.Add(1) > 1 && f.blocked != nil {
		f.calls.add("dump blocked")
		close(f.blocked)
		<-ctx.Done()
		return ctx.Err()
	}
	for _, fl := range f.flows {
		add(fl)
	}
	return nil
}

func (f *fakeSource) Resync() {
	select {
	case f.resync <- struct{}{}:
	default:
	}
}

func (f *fakeSource) Stats() report.SourceStats {
	return report.SourceStats{Resyncs: f.resyncs.Load()}
}
