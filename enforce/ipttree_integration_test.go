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
	labtest.EachFlavour(t, func(t *testing.T, _ lab.Flavour) {
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

// TestIPTPreservePortsNeedsPins: why, with preserve_ports, the agent still
// pins endpoints that kept their port. Host 0's endpoint :5000 reaches
// server A from public port 5000; host 1's endpoint of the same port then
// reaches server B from public 5000 too (that tuple is free); host 0's flow
// to B cannot have 5000 any more. Without a pin it leaves from another port:
// host 0's mapping became endpoint-dependent, silently. With host 0's pin
// it never leaves from another port (the kernel drops it while host 1
// holds the tuple, and the agent, which sees host 1 on a pinned port, moves
// host 1).
func TestIPTPreservePortsNeedsPins(t *testing.T) {
	bl := newBackendLab(t, lab.Iptables, func(r Rules) (Backend, error) { return NewIPT(r) })
	ctx := context.Background()
	r := Rules{WAN: bl.WANIface, Mapping: true, Preserve: []netip.Prefix{netip.PrefixFrom(bl.LAN[0].Addr(), 24).Masked()}}
	ipt, err := NewIPT(r)
	if err != nil {
		t.Fatal(err)
	}
	b := routerBackend{ipt, bl.Router}
	t.Cleanup(func() { b.Remove() })
	h0, h1 := netip.AddrPortFrom(bl.LAN[0].Addr(), 5000), netip.AddrPortFrom(bl.LAN[1].Addr(), 5000)
	send := func(host int, src, dst netip.AddrPort) {
		s, err := bl.LAN[host].OpenUDP(src)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Send(ctx, dst) // a dropped flow gets no echo: the flows tell
	}
	for _, pinned := range []bool{false, true} {
		var pins []Pin
		if pinned {
			pins = []Pin{{conntrackmap.UDP, h0, netip.AddrPortFrom(bl.Public, 5000)}}
		}
		if err := b.Install(pins); err != nil {
			t.Fatal(err)
		}
		if _, err := bl.Conntrack(ctx, "-F"); err != nil {
			t.Fatal(err)
		}
		send(0, h0, bl.servers[0])
		send(1, h1, bl.servers[1])
		send(0, h0, bl.servers[1])
		flows, err := bl.Flows(ctx, "-p", "udp")
		if err != nil {
			t.Fatal(err)
		}
		var other []lab.Flow
		for _, f := range flows {
			if f.OrigSrc == h0 && f.ReplyDst.Port() != 5000 {
				other = append(other, f)
			}
		}
		if !pinned && len(other) != 1 {
			t.Errorf("without a pin: %d flows of %v left from another port than 5000, want its flow to B: %+v", len(other), h0, flows)
		}
		if pinned && len(other) != 0 {
			t.Errorf("pinned: %v left from another port than its pin: %+v", h0, other)
		}
	}
}
