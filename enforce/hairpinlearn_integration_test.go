//go:build integration

package enforce

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
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

// reflection is a port forward with NAT reflection as fw4 makes it: the
// router's public port 7100 goes to LAN host 1's port 6500 (no pin), and
// LAN hosts reaching it through the public address are masqueraded to the
// router's LAN address.
const reflection = "table ip labreflect {\n" +
	"\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" +
	"\t\tip daddr 203.0.113.1 udp dport 7100 dnat to 198.51.100.11:6500\n\t}\n" +
	"\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n" +
	"\t\toifname \"br-lan\" ct status dnat ip saddr 198.51.100.0/24 masquerade\n\t}\n}\n"

// TestHairpinLearnSkipsReflection: a LAN host reaching a port forward
// through the public address (NAT reflection, not natp2p's hairpin) gets
// no pin in the kernel: the reflection's source is the router's private
// LAN address, which a pin would then put on the host's flows to the
// internet.
func TestHairpinLearnSkipsReflection(t *testing.T) {
	hl := newHairpinLab(t, lab.Config{Backend: lab.Nftables})
	ctx := context.Background()
	cmd := hl.Router.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(reflection)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	target := netip.AddrPortFrom(hl.hosts[1].Addr(), 6500)
	if err := hl.hosts[1].UDPEcho(target); err != nil {
		t.Fatal(err)
	}
	before, _ := hl.b.Pins()
	if !hl.send(t, 0, 5998, netip.AddrPortFrom(hl.Public, 7100)) {
		t.Fatal("no echo through the port forward's reflection")
	}
	if peers := hl.hosts[1].Peers(target); len(peers) != 1 || peers[0].Addr() != hl.RouterLAN {
		t.Fatalf("the port forward's target saw %v, want the router's LAN address (the reflection's masquerade)", peers)
	}
	if after, _ := hl.b.Pins(); len(after) != len(before) {
		t.Errorf("pins %v after a reflected flow, want them as before: %v", after, before)
	}
}
