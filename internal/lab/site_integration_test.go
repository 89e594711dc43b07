//go:build integration && linux

package lab_test

import (
	"net/netip"
	"testing"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// TestTwoRoutersHolePunch builds a two-router lab (two hosts behind the
// first router, one behind the second, both masquerading) and punches a
// UDP hole by hand: the first packet, from A to B's public endpoint, is
// dropped by B's router without taking B's mapping (its WAN drops new
// inbound traffic); B's packet to A's public endpoint then gets through
// A's mapping, and A's next packet through B's. Each server saw its own
// router's public address.
func TestTwoRoutersHolePunch(t *testing.T) {
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			l := labtest.New(t, lab.Config{Backend: b, Second: &lab.SiteConfig{Backend: b}})
			checkTwoRouterLayout(t, l)
			ctx := testCtx(t)
			a, bs := l.LAN[0], l.Second.LAN[0]
			sa, err := a.OpenUDP(netip.AddrPortFrom(a.Addr(), 40010))
			if err != nil {
				t.Fatal(err)
			}
			sb, err := bs.OpenUDP(netip.AddrPortFrom(bs.Addr(), 40020))
			if err != nil {
				t.Fatal(err)
			}
			pubA, pubB := netip.AddrPortFrom(l.Public, 40010), netip.AddrPortFrom(l.Second.Public, 40020)
			for _, step := range []struct {
				from, to *lab.UDPSession
				dst, src netip.AddrPort
				arrives  bool
			}{
				{sa, sb, pubB, pubA, false},
				{sb, sa, pubA, pubB, true},
				{sa, sb, pubB, pubA, true},
			} {
				if _, err := step.from.Send(ctx, step.dst); err != nil {
					t.Fatal(err)
				}
				heard := step.to.Heard(ctx, step.src)
				if got := len(heard) == 1; got != step.arrives {
					t.Errorf("%v -> %v: arrived %v, want %v", step.from.Local, step.dst, got, step.arrives)
				}
			}
		})
	}
}

// checkTwoRouterLayout asserts the documented addresses of a two-router
// lab, and that each router reaches the WAN server.
func checkTwoRouterLayout(t *testing.T, l *lab.Lab) {
	t.Helper()
	sites := l.Sites()
	if len(sites) != 2 || sites[0] != l.First() || sites[1] != l.Second {
		t.Fatalf("Sites() = %v, want First and Second", sites)
	}
	want := map[string]string{
		"first router":  "198.51.100.1 203.0.113.1 198.51.100.10 198.51.100.11",
		"second router": "192.0.2.1 203.0.113.3 192.0.2.10",
		"TURN":          "203.0.113.20",
	}
	got := map[string]string{
		"first router":  addrs(l.First()),
		"second router": addrs(l.Second),
		"TURN":          l.TURNAddr.String(),
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s: %s, want %s", k, got[k], want[k])
		}
	}
	srv := netip.AddrPortFrom(l.ServerAddrs[0], 4000)
	if err := l.WAN.UDPEcho(srv); err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		u, err := s.LAN[0].OpenUDP(netip.AddrPortFrom(s.LAN[0].Addr(), 40030))
		if err != nil {
			t.Fatal(err)
		}
		if replied, err := u.Send(testCtx(t), srv); err != nil || len(replied) != 1 {
			t.Fatalf("%v -> %v: replies %v, %v", u.Local, srv, replied, err)
		}
		if peers := l.WAN.Peers(srv); len(peers) == 0 || peers[len(peers)-1].Addr() != s.Public {
			t.Errorf("server saw %v, want the last from %v", peers, s.Public)
		}
	}
}

func addrs(s *lab.Site) string {
	out := s.RouterLAN.String() + " " + s.RouterWAN.String()
	for _, h := range s.LAN {
		out += " " + h.Addr().String()
	}
	return out
}
