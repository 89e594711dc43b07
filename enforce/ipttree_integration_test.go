//go:build integration

package enforce

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// TestIPTTreeManyHosts: 4,000 pins over 200 LAN hosts (forged sources on
// the LAN), half installed at once and half by updates of 100, then 40 of
// them moved one at a time, under the router's fully-random masquerade.
// Every pinned endpoint then leaves through the WAN with its pinned port
// to two destinations; Remove leaves iptables-save as before. On both
// iptables flavours.
func TestIPTTreeManyHosts(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "nf_tables"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) {
			if legacy {
				useLegacy(t)
			}
			l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: lab.Iptables, LANHosts: 1})
			save := func() string {
				out, err := l.Router.Run(context.Background(), "iptables-save", "-t", "nat")
				if err != nil {
					t.Fatal(err)
				}
				return stripCounters(string(out))
			}
			before := save()
			ipt, err := NewIPT(Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Sources: labLAN, Mapping: true, Hairpin: true})
			if err != nil {
				t.Fatal(err)
			}
			b := routerBackend{ipt, l.Router}
			srcs, pins := treeLabPins(l, 200, 20)
			if err := b.Install(pins[:len(pins)/2]); err != nil {
				t.Fatal(err)
			}
			for i := len(pins) / 2; i < len(pins); i += 100 {
				if err := b.Update(pins[i:i+100], nil); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < len(pins); i += len(pins) / 40 {
				moved := pins[i]
				moved.Public = netip.AddrPortFrom(moved.Public.Addr(), moved.Public.Port()+10000)
				if err := b.Update([]Pin{moved}, []Pin{pins[i]}); err != nil {
					t.Fatal(err)
				}
				pins[i] = moved
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// Each endpoint to both servers: port ForgeBasePort+i goes to
			// dsts[i%2], so the second round swaps them.
			dsts := l.ServerAddrs[:2]
			for _, d := range [][]netip.Addr{dsts, {dsts[1], dsts[0]}} {
				if _, _, err := l.LAN[0].ForgeUDP(ctx, srcs, d, 20); err != nil {
					t.Fatal(err)
				}
			}
			checkTreeFlows(t, l, pins)
			if err := b.Remove(); err != nil {
				t.Fatal(err)
			}
			if after := save(); after != before {
				t.Errorf("nat table after Remove:\n%s\nbefore:\n%s", after, before)
			}
		})
	}
}

// treeLabPins are hosts forged LAN sources (none a lab host's) and, for
// each, perHost pins of the ports ForgeUDP sends from.
func treeLabPins(l *lab.Lab, hosts, perHost int) ([]netip.Addr, []Pin) {
	var srcs []netip.Addr
	var pins []Pin
	for i := 0; len(srcs) < hosts; i++ {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(30 + i)})
		if a == l.LAN[0].Addr() {
			continue
		}
		srcs = append(srcs, a)
		for p := range perHost {
			pins = append(pins, Pin{conntrackmap.UDP, netip.AddrPortFrom(a, uint16(lab.ForgeBasePort+p)),
				netip.AddrPortFrom(l.Public, uint16(30000+len(pins)))})
		}
	}
	return srcs, pins
}

// checkTreeFlows: each pin's endpoint has two flows, each leaving with the
// pin's public endpoint.
func checkTreeFlows(t *testing.T, l *lab.Lab, pins []Pin) {
	t.Helper()
	flows, err := l.Flows(context.Background(), "-p", "udp")
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.AddrPort]netip.AddrPort{}
	for _, p := range pins {
		want[p.Private] = p.Public
	}
	seen := map[netip.AddrPort]int{}
	bad := 0
	for _, f := range flows {
		pub, ok := want[f.OrigSrc]
		if !ok {
			continue
		}
		seen[f.OrigSrc]++
		if f.ReplyDst != pub {
			if bad++; bad <= 5 {
				t.Errorf("%v to %v left as %v, its pin is %v", f.OrigSrc, f.OrigDst, f.ReplyDst, pub)
			}
		}
	}
	missing := 0
	for priv := range want {
		if seen[priv] != 2 {
			if missing++; missing <= 5 {
				t.Errorf("%v: %d flows, want 2", priv, seen[priv])
			}
		}
	}
	if bad > 0 || missing > 0 {
		t.Errorf("%d flows off their pin, %d endpoints without two flows, of %d pins", bad, missing, len(pins))
	}
}
