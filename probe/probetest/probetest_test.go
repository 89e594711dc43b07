package probetest_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
	"github.com/natp2p/natp2p/probe/stun"
)

func TestStart(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	want := []netip.AddrPort{in.Addr(0, 0), in.Addr(0, 1), in.Addr(1, 0), in.Addr(1, 1)}
	if diff := cmp.Diff(want, in.Addrs, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
		t.Errorf("Addrs (-want +got):\n%s", diff)
	}
	if in.Config.Primary != probetest.Primary || in.Config.Alternate != probetest.Alternate ||
		in.Config.AltPort != in.Config.Port+1 || in.Config.Port < 20000 {
		t.Errorf("config %+v", in.Config)
	}
	for _, a := range in.Addrs {
		ping(t, a)
	}
}

// TestStartTwice: two introducers side by side get different ports.
func TestStartTwice(t *testing.T) {
	a := probetest.Start(t, introducer.Config{})
	b := probetest.Start(t, introducer.Config{Primary: probetest.Primary})
	if a.Config.Port == b.Config.Port || !b.Degraded() || len(b.Addrs) != 1 {
		t.Errorf("ports %d and %d, second degraded %v with %v", a.Config.Port, b.Config.Port, b.Degraded(), b.Addrs)
	}
	ping(t, b.Addrs[0])
}

func ping(t *testing.T, to netip.AddrPort) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write((&stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID()}).Marshal(true))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1500)); err != nil {
		t.Errorf("%v: %v", to, err)
	}
}
