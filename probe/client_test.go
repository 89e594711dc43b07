package probe_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
)

// TestEnterCreatesEverySocket probes an introducer on loopback through an
// Enter hook: every socket (four UDP, six TCP) is created inside it, as
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
	if got := entered.Load(); got != 10 {
		t.Errorf("Enter ran %d times, want 10 (mapping, filtering, hairpin and UDP punch sockets, "+
			"three TCP mapping dials, the unsolicited SYN's, the TCP punch's two)", got)
	}
	// No NAT on loopback: the kernel refuses the introducer's SYNs, the
	// UDP peer sees what the primary saw.
	if r.TCPUnsolicited != probe.UnsolicitedReset || r.P2PUDP == nil || !*r.P2PUDP || r.P2PTCP == nil || *r.P2PTCP {
		t.Errorf("tcp unsolicited %s, p2p udp %v, p2p tcp %v; want reset, true, false\n%+v",
			r.TCPUnsolicited, fmtBool(r.P2PUDP), fmtBool(r.P2PTCP), r.Tests)
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
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
