//go:build integration

package enforce

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/natp2p/natp2p/internal/lab"
)

// TestHairpinFirstKeepsMapping: a LAN host's endpoint without a pin whose
// first flow is hairpinned gets a new public mapping from the hairpin SNAT;
// its next flow, to the internet, keeps that mapping (the learn chain pins
// it at once), so its LAN peer and the internet see one public endpoint.
// Without it the router's fully-random NAT gave the second flow another
// port before the agent could pin the first (ICE between two hosts of one
// LAN sends both at once). nftables only: the iptables backend learns
// nothing in the kernel; its agent pins from conntrack's events.
func TestHairpinFirstKeepsMapping(t *testing.T) {
	for _, brnf := range []bool{false, true} {
		t.Run(fmt.Sprintf("bridge-nf=%t", brnf), func(t *testing.T) {
			hl := newHairpinLab(t, lab.Config{Backend: lab.Nftables, BridgeNetfilter: brnf})
			ctx := context.Background()
			srv := netip.AddrPortFrom(hl.ServerAddrs[0], 4000)
			if err := hl.WAN.UDPEcho(srv); err != nil {
				t.Fatal(err)
			}
			priv := netip.AddrPortFrom(hl.hosts[0].Addr(), 5999) // no pin
			s, err := hl.hosts[0].OpenUDP(priv)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, err := s.Send(ctx, hl.pins[1].Public); err != nil || len(got) != 1 {
				t.Fatalf("%v -> %v (hairpin): %v, %v", priv, hl.pins[1].Public, got, err)
			}
			i := slices.IndexFunc(hl.hosts[1].Peers(hl.pins[1].Private), func(p netip.AddrPort) bool { return p.Addr() == hl.Public })
			if i < 0 {
				t.Fatalf("host 1 heard nothing from the router's public address: %v", hl.hosts[1].Peers(hl.pins[1].Private))
			}
			seen := hl.hosts[1].Peers(hl.pins[1].Private)[i]
			if got, err := s.Send(ctx, srv); err != nil || len(got) != 1 {
				t.Fatalf("%v -> %v: %v, %v", priv, srv, got, err)
			}
			if peers := hl.WAN.Peers(srv); !slices.Equal(peers, []netip.AddrPort{seen}) {
				t.Errorf("%v: the internet saw %v, its LAN peer %v; want one public endpoint", priv, peers, seen)
			}
		})
	}
}
