package agent

import (
	"context"
	"sync"
)

// phase is a step of the daemon's shutdown. Phases stop in their order:
// a phase is asked to stop only once every goroutine of the phase before
// it has returned.
type phase int

// The daemon's phases, in the order they stop.
const (
	// phaseFeed: the conntrack source and everything else that calls the
	// enforcer (the WAN poll, the address watch), and the summary log.
	phaseFeed phase = iota
	// phaseEnforce: the enforcer's Run. Once it returned, and with the
	// feed gone, nothing changes rules: cleanup may follow at once.
	phaseEnforce
	// phaseProbe: the prober. Its namespace and veth are gone when it
	// returns.
	phaseProbe
	// phaseControl: the control socket. The init scripts clean up as soon
	// as it stops answering, so it closes last: cleanup then cannot race
	// a reinstall or a probe still under way.
	phaseControl
	numPhases
)

// group starts goroutines and waits for them: golang.org/x/sync's
// errgroup without the dependency.
type group struct{ wg sync.WaitGroup }

// Go runs fn in a goroutine of the group.
func (g *group) Go(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// Wait waits for every goroutine the group started.
func (g *group) Wait() { g.wg.Wait() }

// lifecycle owns the goroutines of one run of the daemon, each in a phase,
// and stops them phase by phase. Its zero value is not usable: see
// newLifecycle.
type lifecycle struct {
	stopping context.Context // done once the daemon is to stop
	stop     context.CancelFunc
	ctx      [numPhases]context.Context // done when the phase is to stop
	cancel   [numPhases]context.CancelFunc
	groups   [numPhases]group

	mu  sync.Mutex
	err error // the first error a goroutine returned
}

// newLifecycle returns a lifecycle that stops when parent is done. The
// phases' contexts keep parent's values, not its cancellation: each is
// cancelled in its turn.
func newLifecycle(parent context.Context) *lifecycle {
	l := &lifecycle{}
	l.stopping, l.stop = context.WithCancel(parent)
	for p := range l.ctx {
		l.ctx[p], l.cancel[p] = context.WithCancel(context.WithoutCancel(parent))
	}
	return l
}

// Go runs fn in phase p with a context that is done when p stops. An
// error from fn stops the daemon; Wait returns the first.
func (l *lifecycle) Go(p phase, fn func(ctx context.Context) error) {
	l.groups[p].Go(func() {
		if err := fn(l.ctx[p]); err != nil {
			l.fail(err)
		}
	})
}

func (l *lifecycle) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.Stop()
}

// Stop asks the daemon to stop. It does not block; Wait does.
func (l *lifecycle) Stop() { l.stop() }

// Wait waits until the daemon is to stop, then stops the phases in order,
// each once the one before it has returned. It returns the first error a
// goroutine returned, or nil. Every goroutine has returned when Wait
// does.
func (l *lifecycle) Wait() error {
	<-l.stopping.Done()
	for p := range l.ctx {
		l.cancel[p]()
		l.groups[p].Wait()
	}
	l.stop() // releases stopping's resources when the parent stopped it
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
