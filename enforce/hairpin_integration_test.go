//go:build integration

package enforce

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// lan2 is the second LAN bridge of the hairpin labs.
var lan2 = netip.MustParsePrefix("192.0.2.1/24")

// hairpinLab is a fully-random masquerading router with two LAN bridges:
// hosts 0 and 1 on br-lan, host 2 on br-lan2, each with a UDP echo server
// on port 6000 and a TCP one on 6001, pins for them and for ports 5000
// (UDP) and 5001 (TCP), the ports it sends from, and a backend
// hairpinning on both bridges.
type hairpinLab struct {
	*lab.Lab
	hosts   []*lab.NS
	pins    []Pin // each host's UDP port 6000
	senders []Pin // each host's UDP port 5000
	tcp     []Pin // each host's TCP port 6001, then its TCP port 5001
	b       Backend
}

func newHairpinLab(t *testing.T, cfg lab.Config) *hairpinLab {
	t.Helper()
	cfg.NAT, cfg.LANHosts = lab.MasqueradeFullyRandom, 2
	l := labtest.New(t, cfg)
	other, err := l.AddLANBridge(context.Background(), "br-lan2", lan2, 1)
	if err != nil {
		t.Fatal(err)
	}
	hl := &hairpinLab{Lab: l, hosts: append(slices.Clone(l.LAN), other...)}
	hl.install(t, Rules{WAN: l.WANIface, LAN: []string{l.LANIface, "br-lan2"}, Mapping: true, Hairpin: true,
		Sources: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), lan2.Masked()}})
	return hl
}

// install starts the hosts' echo servers and installs the backend of r
// with their pins.
func (hl *hairpinLab) install(t *testing.T, r Rules) {
	t.Helper()
	for i, h := range hl.hosts {
		private := netip.AddrPortFrom(h.Addr(), 6000)
		if err := h.UDPEcho(private); err != nil {
			t.Fatal(err)
		}
		hl.pins = append(hl.pins, Pin{conntrackmap.UDP, private, netip.AddrPortFrom(hl.Public, uint16(41000+i))})
		hl.senders = append(hl.senders, Pin{conntrackmap.UDP, netip.AddrPortFrom(h.Addr(), 5000), netip.AddrPortFrom(hl.Public, uint16(40000+i))})
		if err := h.TCPEcho(netip.AddrPortFrom(h.Addr(), 6001)); err != nil {
			t.Fatal(err)
		}
		hl.tcp = append(hl.tcp, Pin{conntrackmap.TCP, netip.AddrPortFrom(h.Addr(), 6001), netip.AddrPortFrom(hl.Public, uint16(43000+i))},
			Pin{conntrackmap.TCP, netip.AddrPortFrom(h.Addr(), 5001), netip.AddrPortFrom(hl.Public, uint16(42000+i))})
	}
	hl.b = newRouterBackend(t, hl.Lab, r)
	if err := hl.b.Install(slices.Concat(hl.pins, hl.senders, hl.tcp)); err != nil {
		t.Fatal(err)
	}
}

// newRouterBackend returns the backend of the lab's firewall, running in
// its router.
func newRouterBackend(t *testing.T, l *lab.Lab, r Rules) Backend {
	t.Helper()
	var b Backend
	var err error
	if l.Config().Backend == lab.Iptables {
		b, err = NewIPT(r)
	} else {
		b, err = NewNFT(r)
	}
	if err != nil {
		t.Fatal(err)
	}
	return routerBackend{b, l.Router}
}

// send sends one datagram from host's src to dst and reports whether the
// echo came back from dst.
func (hl *hairpinLab) send(t *testing.T, host int, src uint16, dst netip.AddrPort) bool {
	t.Helper()
	s, err := hl.hosts[host].OpenUDP(netip.AddrPortFrom(hl.hosts[host].Addr(), src))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	replied, _ := s.Send(ctx, dst)
	return len(replied) == 1
}

// TestHairpinDelivers: on both backends, with bridge netfilter off (as on
// OpenWrt) and on (Debian-based routers, docker hosts: a hairpin within a
// bridge is then bridged, and postrouting sees no input interface), a LAN
// host sending to another's pinned public endpoint, on its bridge or on
// another, reaches it from its own pinned public endpoint (RFC 4787
// REQ-9a), and a sender without a pin from the router's public address:
// the receiver never sees a private source. On a router whose forward
// chain drops LAN-to-LAN traffic nothing arrives, and nothing answers.
func TestHairpinDelivers(t *testing.T) {
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		for _, brnf := range []bool{false, true} {
			for _, drop := range []bool{false, true} {
				name := fmt.Sprintf("%s/bridge-nf=%t/forward-drop=%t", fw, brnf, drop)
				t.Run(name, func(t *testing.T) {
					testHairpin(t, lab.Config{Backend: fw, BridgeNetfilter: brnf, ForwardDropLAN: drop})
				})
			}
		}
	}
}

func testHairpin(t *testing.T, cfg lab.Config) {
	hl := newHairpinLab(t, cfg)
	deliver := !cfg.ForwardDropLAN
	for _, c := range []struct {
		what     string
		from, to int
		src      uint16
		seenAs   netip.AddrPort // port 0: any port of the router's public address
	}{
		{"within br-lan", 0, 1, 5000, hl.senders[0].Public},
		{"br-lan to br-lan2", 0, 2, 5000, hl.senders[0].Public},
		{"br-lan2 to br-lan", 2, 1, 5000, hl.senders[2].Public},
		{"within br-lan, sender without a pin", 0, 1, 5999, netip.AddrPortFrom(hl.Public, 0)},
	} {
		if got := hl.send(t, c.from, c.src, hl.pins[c.to].Public); got != deliver {
			t.Errorf("%s: host %d -> %v answered: %v, want %v", c.what, c.from, hl.pins[c.to].Public, got, deliver)
		}
		peers := hl.hosts[c.to].Peers(hl.pins[c.to].Private)
		for _, p := range peers {
			if p.Addr() != hl.Public {
				t.Errorf("%s: host %d saw a hairpinned packet from %v, a private source (want the router's public address)", c.what, c.to, p)
			}
		}
		seen := slices.ContainsFunc(peers, func(p netip.AddrPort) bool {
			return p == c.seenAs || c.seenAs.Port() == 0 && p.Addr() == c.seenAs.Addr() && !slices.Contains(hl.senders, Pin{conntrackmap.UDP, netip.AddrPortFrom(hl.hosts[c.from].Addr(), 5000), p})
		})
		if seen != deliver {
			t.Errorf("%s: host %d saw %v, want %v among them: %v", c.what, c.to, peers, c.seenAs, deliver)
		}
	}
	hl.tcpHairpin(t, deliver)
}

// tcpHairpin: host 0 connects from its pinned TCP port to host 1's pinned
// public endpoint, which sees it come from host 0's.
func (hl *hairpinLab) tcpHairpin(t *testing.T, deliver bool) {
	t.Helper()
	from, to := hl.tcp[1], hl.tcp[2]
	c, err := hl.hosts[0].DialTCP(context.Background(), from.Private, to.Public)
	if (err == nil) != deliver {
		t.Errorf("tcp %v -> %v: connect error %v, want a connection: %v", from.Private, to.Public, err, deliver)
	}
	if err == nil {
		c.Close()
	}
	var want []netip.AddrPort
	if deliver {
		want = []netip.AddrPort{from.Public}
	}
	got := hl.hosts[1].Peers(to.Private)
	for end := time.Now().Add(time.Second); !slices.Equal(got, want) && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		got = hl.hosts[1].Peers(to.Private) // the echo server notes a peer once it accepted
	}
	if !slices.Equal(got, want) {
		t.Errorf("tcp: host 1 saw %v, want %v", got, want)
	}
}

// TestHairpinOnlyFromLAN: an uplink taken for a LAN interface (a second
// internet connection, with fw4's `ct status dnat accept` in the forward
// chain) opens nothing: a packet from the internet side to a pinned public
// endpoint is not DNATed, as it comes from no LAN network, while LAN hosts
// still hairpin. On both backends.
func TestHairpinOnlyFromLAN(t *testing.T) {
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		t.Run(string(fw), func(t *testing.T) {
			hl := &hairpinLab{Lab: labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: fw})}
			ctx := context.Background()
			up, err := hl.AddUplink(ctx, "wan1", netip.MustParsePrefix("100.64.1.1/24"), netip.MustParsePrefix("100.64.1.10/24"), false)
			if err != nil {
				t.Fatal(err)
			}
			if err := hl.FW4Forward(ctx); err != nil {
				t.Fatal(err)
			}
			hl.hosts = hl.LAN
			hl.install(t, Rules{WAN: hl.WANIface, LAN: []string{hl.LANIface, "wan1"}, Mapping: true, Hairpin: true,
				Sources: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
			far, err := up.OpenUDP(netip.AddrPortFrom(up.Addr(), 5555))
			if err != nil {
				t.Fatal(err)
			}
			if replied, _ := far.Send(ctx, hl.pins[1].Public); len(replied) != 0 {
				t.Errorf("the uplink's side reached %v and got an answer: inbound opened", hl.pins[1].Public)
			}
			if peers := hl.hosts[1].Peers(hl.pins[1].Private); len(peers) != 0 {
				t.Errorf("host 1 received %v from the uplink's side: inbound opened", peers)
			}
			if !hl.send(t, 0, 5000, hl.pins[1].Public) {
				t.Errorf("LAN host 0 -> %v: no echo; hairpinning broken", hl.pins[1].Public)
			}
		})
	}
}
