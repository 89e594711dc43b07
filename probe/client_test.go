package probe_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
)

// TestEnterCreatesEverySocket probes an introducer on loopback through an
// Enter hook: every socket (three UDP, three TCP) is created inside it, as
// the agent's namespace vantage needs, and the probe still classifies.
func TestEnterCreatesEverySocket(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true})
	var entered atomic.Int32
	c, err := probe.New(probe.Config{Introducer: in.Addr(0, 0), Local: probetest.Primary,
		Enter: func(create func() error) error { entered.Add(1); return create() }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Mapping != probe.EndpointIndependent || r.TCPMapping != probe.EndpointIndependent {
		t.Errorf("mapping %s, tcp mapping %s on loopback; want endpoint-independent\n%+v", r.Mapping, r.TCPMapping, r.Tests)
	}
	if got := entered.Load(); got != 6 {
		t.Errorf("Enter ran %d times, want 6 (mapping, filtering and hairpin sockets, three TCP dials)", got)
	}
}

// TestEnterFailure: a vantage point that cannot create sockets fails the
// probe with its error.
func TestEnterFailure(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	gone := errors.New("namespace gone")
	c, err := probe.New(probe.Config{Introducer: in.Addr(0, 0),
		Enter: func(func() error) error { return gone }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background()); !errors.Is(err, gone) {
		t.Errorf("Run: %v, want the Enter error", err)
	}
}
