package agent

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce"
	"github.com/natp2p/natp2p/enforce/status"
	"github.com/natp2p/natp2p/report"
)

// flowSource is the conntrack source as the agent uses it: *Source, or a
// fake in tests.
type flowSource interface {
	// Run follows conntrack into t until ctx is done (see Source.Run).
	Run(ctx context.Context, t *conntrackmap.Table, ready chan<- struct{}) error
	// Resync asks Run for a fresh dump; it does not block.
	Resync()
	// Stats is safe to call while Run runs.
	Stats() report.SourceStats
	// dump streams one dump's flows into add, without Run.
	dump(ctx context.Context, add func(conntrackmap.Flow)) error
}

// ruleEnforcer is enforce mode's enforcer as the agent uses it:
// *enforce.Enforcer, or a fake in tests. Every method but Status and Run
// may change rules; the feed calls them (see phaseFeed).
type ruleEnforcer interface {
	Start() error
	Run(ctx context.Context)
	Events(evs []conntrackmap.Event)
	Resynced()
	Missed(f conntrackmap.Flow)
	Retain(public func(netip.Addr) bool)
	Status() status.Status
}

var (
	_ flowSource   = (*Source)(nil)
	_ ruleEnforcer = (*enforce.Enforcer)(nil)
)

// hooks are how Run reaches the router besides the source and the
// enforcer. New sets the real ones; tests replace them.
type hooks struct {
	// listen opens the control socket.
	listen func(path string) (net.Listener, error)
	// wan reads the WAN's addresses: errWANGone or the addresses are an
	// answer, any other error is none (see readWAN).
	wan func(name string) (report.Interface, error)
	// watchAddrs calls changed on address changes until ctx is done,
	// logging to log the failures it retries.
	watchAddrs func(ctx context.Context, log *slog.Logger, changed func()) error
	// removeVantage removes a probe link an earlier run left.
	removeVantage func() error
}

// kernelHooks are the real hooks.
func kernelHooks() hooks {
	return hooks{listen: listen, wan: readWAN, watchAddrs: watchAddrs, removeVantage: removeVantageLeftover}
}

// fill replaces t's flows with one of src's dumps, streamed straight into
// t, and returns how many it kept.
func fill(ctx context.Context, src flowSource, t *conntrackmap.Table) (int, error) {
	n := 0
	err := t.ReplaceFunc(func(add func(conntrackmap.Flow)) error {
		return src.dump(ctx, func(f conntrackmap.Flow) { n++; add(f) })
	})
	return n, err
}
