//go:build integration

package enforce

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// backendLab is a fully-random masquerading lab (the NAT that breaks
// endpoint-independent mapping) with UDP echo servers on both server
// addresses and on each LAN host's port 6000, and a backend that runs in
// the router's namespace.
type backendLab struct {
	*lab.Lab
	servers []netip.AddrPort
	b       Backend
}

func newBackendLab(t *testing.T, fw lab.Backend, newBackend func(Rules) (Backend, error)) *backendLab {
	t.Helper()
	l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: fw})
	bl := &backendLab{Lab: l, servers: []netip.AddrPort{
		netip.AddrPortFrom(l.ServerAddrs[0], 3478), netip.AddrPortFrom(l.ServerAddrs[1], 3479)}}
	if err := l.WAN.UDPEcho(bl.servers...); err != nil {
		t.Fatal(err)
	}
	for _, h := range l.LAN {
		if err := h.UDPEcho(netip.AddrPortFrom(h.Addr(), 6000)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := newBackend(Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Sources: labLAN, Mapping: true, Hairpin: true})
	if err != nil {
		t.Fatal(err)
	}
	bl.b = routerBackend{b, l.Router}
	return bl
}

// routerBackend runs every call of a Backend inside the router namespace.
type routerBackend struct {
	b  Backend
	ns *lab.NS
}

func (r routerBackend) Name() string { return r.b.Name() }
func (r routerBackend) Install(pins []Pin) error {
	return r.ns.Do(func() error { return r.b.Install(pins) })
}
func (r routerBackend) Update(add, del []Pin) error {
	return r.ns.Do(func() error { return r.b.Update(add, del) })
}
func (r routerBackend) Remove() error { return r.ns.Do(r.b.Remove) }
func (r routerBackend) Installed() (ok bool, err error) {
	err = r.ns.Do(func() (e error) { ok, e = r.b.Installed(); return e })
	return ok, err
}
func (r routerBackend) Pins() (pins []Pin, err error) {
	err = r.ns.Do(func() (e error) { pins, e = r.b.Pins(); return e })
	return pins, err
}

// publicsSeen sends from src to every server and returns the distinct
// public endpoints the servers saw.
func (bl *backendLab) publicsSeen(t *testing.T, host int, src netip.AddrPort) []netip.AddrPort {
	t.Helper()
	s, err := bl.LAN[host].OpenUDP(src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	replied, err := s.Send(ctx, bl.servers...)
	if err != nil {
		t.Fatal(err)
	}
	if len(replied) != len(bl.servers) {
		t.Fatalf("%v: replies from %v, want all of %v", src, replied, bl.servers)
	}
	seen := map[netip.AddrPort]bool{}
	for _, srv := range bl.servers {
		for _, p := range bl.WAN.Peers(srv) {
			seen[p] = true
		}
	}
	var out []netip.AddrPort
	for p := range seen {
		out = append(out, p)
	}
	return out
}

// portForward adds the router's own DNAT of WAN port to a LAN endpoint, as
// fw4/fw3 port forwards do.
func (bl *backendLab) portForward(t *testing.T, fw lab.Backend, port uint16, to netip.AddrPort) {
	t.Helper()
	var err error
	if fw == lab.Iptables {
		_, err = bl.Router.Run(context.Background(), "iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-i", bl.WANIface,
			"-p", "udp", "--dport", fmt.Sprint(port), "-j", "DNAT", "--to-destination", to.String())
	} else {
		_, err = bl.Router.Run(context.Background(), "nft", fmt.Sprintf("add chain ip %s portfwd { type nat hook prerouting priority dstnat; } ; "+
			"add rule ip %s portfwd iifname %q udp dport %d dnat ip to %s", lab.NFTTable, lab.NFTTable, bl.WANIface, port, to))
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (bl *backendLab) ruleset(t *testing.T, fw lab.Backend) string {
	t.Helper()
	cmd := []string{"nft", "list", "ruleset"}
	if fw == lab.Iptables {
		cmd = []string{"iptables-save", "-t", "nat"}
	}
	out, err := bl.Router.Run(context.Background(), cmd[0], cmd[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return stripCounters(string(out))
}

// testBackend is the same lab test for both backends.
func testBackend(t *testing.T, fw lab.Backend, newBackend func(Rules) (Backend, error)) {
	bl := newBackendLab(t, fw, newBackend)
	bl.portForward(t, fw, 7000, netip.AddrPortFrom(bl.LAN[1].Addr(), 6000))
	before := bl.ruleset(t, fw)
	a := netip.AddrPortFrom(bl.LAN[0].Addr(), 5000)
	b := netip.AddrPortFrom(bl.LAN[1].Addr(), 6000)
	pinA := Pin{conntrackmap.UDP, a, netip.AddrPortFrom(bl.Public, 40000)}
	pinB := Pin{conntrackmap.UDP, b, netip.AddrPortFrom(bl.Public, 41000)}

	if ok, err := bl.b.Installed(); err != nil || ok {
		t.Fatalf("Installed() before Install = %v, %v; want false", ok, err)
	}
	if pins, err := bl.b.Pins(); err != nil || len(pins) != 0 {
		t.Fatalf("Pins() before Install = %v, %v; want none", pins, err)
	}
	if err := bl.b.Install([]Pin{pinA}); err != nil {
		t.Fatal(err)
	}
	if ok, err := bl.b.Installed(); err != nil || !ok {
		t.Fatalf("Installed() = %v, %v; want true", ok, err)
	}
	if fw == lab.Nftables {
		// nft, the admin's tool, reads the rules back as DESIGN.md writes them.
		listing := bl.ruleset(t, fw)
		for _, want := range []string{
			`oifname "wan0" snat ip to meta l4proto . ip saddr . th sport map @pins`,
			`oifname "br-lan" ct status dnat ct original ip saddr 198.51.100.0/24 snat ip to meta l4proto . ip saddr . th sport map @pins`,
			`iifname "br-lan" ip saddr 198.51.100.0/24 dnat ip to meta l4proto . ip daddr . th dport map @rev`,
			`udp . 198.51.100.10 . 5000 : 203.0.113.1 . 40000`,
			`type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service`,
			`add @pins { meta l4proto . ct original ip saddr . ct original proto-src : ip saddr . udp sport }`,
			`add @rev { meta l4proto . ip saddr . tcp sport : ct original ip saddr . ct original proto-src }`,
			`oifname "br-lan" ct status dnat ct original ip saddr 198.51.100.0/24 ct status snat ct state new ` +
				`meta l4proto . ct original ip daddr . ct original proto-dst @rev meta l4proto . ip saddr . udp sport != @rev add @pins`,
		} {
			if !strings.Contains(listing, want) {
				t.Errorf("nft list ruleset lacks %q:\n%s", want, listing)
			}
		}
	}

	// Without the pin, fully-random masquerade gives each server its own
	// port; with it, both see the pinned public endpoint.
	// An endpoint without a pin: fully-random masquerade would give each
	// server its own port. The nftables backend pins the endpoint from its
	// first packet, in the kernel, so both servers see one public
	// endpoint; the iptables backend leaves pinning to the agent.
	free := netip.AddrPortFrom(bl.LAN[0].Addr(), 5001)
	learns := fw == lab.Nftables
	got := bl.publicsSeen(t, 0, free)
	if want := map[bool]int{true: 1, false: 2}[learns]; len(got) != want {
		t.Fatalf("unpinned endpoint: servers saw %v, want %d public endpoints", got, want)
	}
	if learns {
		pins, err := bl.b.Pins()
		learned := Pin{conntrackmap.UDP, free, got[0]}
		if err != nil || !cmp.Equal(pins, []Pin{pinA, learned}, equateNet) {
			t.Fatalf("Pins() after the kernel learned a pin = %v, %v; want %v", pins, err, []Pin{pinA, learned})
		}
		if err := bl.b.Update(nil, []Pin{learned}); err != nil {
			t.Fatal(err)
		}
		// The router's own flows are no LAN host's mapping: not learned.
		own, err := bl.Router.OpenUDP(netip.AddrPortFrom(bl.Public, 5002))
		if err != nil {
			t.Fatal(err)
		}
		own.Send(context.Background(), bl.servers[0])
		own.Close()
		if pins, err := bl.b.Pins(); err != nil || !cmp.Equal(pins, []Pin{pinA}, equateNet) {
			t.Errorf("Pins() after the router's own flow = %v, %v; want only %v", pins, err, pinA)
		}
	}
	// Peers accumulate: the pinned endpoint talks to fresh servers.
	servers := bl.servers
	bl.servers = []netip.AddrPort{netip.AddrPortFrom(bl.ServerAddrs[0], 4000), netip.AddrPortFrom(bl.ServerAddrs[1], 4001)}
	if err := bl.WAN.UDPEcho(bl.servers...); err != nil {
		t.Fatal(err)
	}
	if got, want := bl.publicsSeen(t, 0, a), []netip.AddrPort{pinA.Public}; !cmp.Equal(got, want, equateNet) {
		t.Errorf("pinned endpoint: servers saw %v, want only %v", got, want)
	}
	bl.servers = servers

	// Update adds B's pin; Pins reads both back.
	if err := bl.b.Update([]Pin{pinB}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := bl.b.Pins(); err != nil || !cmp.Equal(got, []Pin{pinA, pinB}, equateNet) {
		t.Errorf("Pins() = %v, %v; want %v", got, err, []Pin{pinA, pinB})
	}

	// Hairpinning: A sends to B's public endpoint; B sees A's public one.
	s, err := bl.LAN[0].OpenUDP(a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if replied, err := s.Send(ctx, pinB.Public); err != nil || len(replied) != 1 {
		t.Errorf("A -> B's public endpoint %v: replies %v, %v; want B's echo", pinB.Public, replied, err)
	}
	s.Close()
	if got := bl.LAN[1].Peers(b); !cmp.Equal(got, []netip.AddrPort{pinA.Public}, equateNet) {
		t.Errorf("B saw the hairpinned packet from %v, want A's public endpoint %v", got, pinA.Public)
	}

	// A sender without a pin reaches B from the router's public address,
	// not its private one (RFC 4787 REQ-9a), and can hear B's answer.
	stray, err := bl.LAN[0].OpenUDP(netip.AddrPortFrom(bl.LAN[0].Addr(), 5999))
	if err != nil {
		t.Fatal(err)
	}
	if replied, _ := stray.Send(ctx, pinB.Public); len(replied) != 1 {
		t.Errorf("unpinned sender -> B's public endpoint %v: no echo", pinB.Public)
	}
	stray.Close()
	var seen netip.AddrPort
	for _, p := range bl.LAN[1].Peers(b) {
		if p.Addr() != bl.Public {
			t.Errorf("B saw a hairpinned packet from %v, want the router's public address %v", p, bl.Public)
		} else if p != pinA.Public {
			seen = p
		}
	}
	// The nftables backend pinned the stray at once to what B saw (the
	// learn chain), so its next flow to the internet keeps it; the
	// iptables backend leaves that to the agent.
	strayPins := []Pin{}
	if learns {
		strayPins = append(strayPins, Pin{conntrackmap.UDP, stray.Local, seen})
	}
	if got, _ := bl.b.Pins(); learns && !slices.ContainsFunc(got, func(p Pin) bool { return cmp.Equal(p, strayPins[0], equateNet) }) {
		t.Errorf("Pins() = %v after the unpinned sender's hairpin, want %v learned", got, strayPins[0])
	}

	// A port forward to B's pinned endpoint: the internet host stays the
	// source (natp2p's hairpin SNAT is for packets from the LAN only).
	far, err := bl.WAN.OpenUDP(netip.AddrPortFrom(bl.ServerAddrs[1], 5556))
	if err != nil {
		t.Fatal(err)
	}
	if replied, _ := far.Send(ctx, netip.AddrPortFrom(bl.Public, 7000)); len(replied) != 1 {
		t.Errorf("port forward %v -> %v: no echo", netip.AddrPortFrom(bl.Public, 7000), b)
	}
	far.Close()
	if peers := bl.LAN[1].Peers(b); !slices.Contains(peers, far.Local) {
		t.Errorf("B saw %v through the port forward, want the internet host %v among them", peers, far.Local)
	}

	// Unsolicited inbound to a pinned public endpoint stays dropped.
	w, err := bl.WAN.OpenUDP(netip.AddrPortFrom(bl.ServerAddrs[1], 5555))
	if err != nil {
		t.Fatal(err)
	}
	if replied, _ := w.Send(ctx, pinB.Public); len(replied) != 0 {
		t.Errorf("unsolicited inbound to %v was answered: filtering opened", pinB.Public)
	}
	w.Close()
	if slices.Contains(bl.LAN[1].Peers(b), w.Local) {
		t.Errorf("B received unsolicited inbound from %v", w.Local)
	}

	// Update moves A in one call; Install replaces everything.
	moved := Pin{conntrackmap.UDP, a, netip.AddrPortFrom(bl.Public, 40100)}
	if err := bl.b.Update([]Pin{moved}, []Pin{pinA}); err != nil {
		t.Fatal(err)
	}
	if got, _ := bl.b.Pins(); !cmp.Equal(got, slices.Concat([]Pin{moved}, strayPins, []Pin{pinB}), equateNet) {
		t.Errorf("after moving A: Pins() = %v", got)
	}
	if err := bl.b.Install([]Pin{pinB}); err != nil {
		t.Fatal(err)
	}
	if got, _ := bl.b.Pins(); !cmp.Equal(got, []Pin{pinB}, equateNet) {
		t.Errorf("after Install: Pins() = %v, want only %v", got, pinB)
	}

	if err := bl.b.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := bl.b.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if ok, _ := bl.b.Installed(); ok {
		t.Error("Installed() = true after Remove")
	}
	if after := bl.ruleset(t, fw); after != before {
		t.Errorf("ruleset after Remove differs from before Install:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestNFTBackend(t *testing.T) {
	testBackend(t, lab.Nftables, func(r Rules) (Backend, error) { return NewNFT(r) })
}

func TestNFTManyPins(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, LANHosts: 1})
	nft, err := NewNFT(Rules{WAN: l.WANIface, Mapping: true})
	if err != nil {
		t.Fatal(err)
	}
	manyPinsRoundTrip(t, routerBackend{nft, l.Router}, l.Public, 5000)
}

// manyPinsRoundTrip installs n pins (more than one netlink batch or restore
// line limit would take), reads them back, moves one and reads them back
// again, then removes everything.
func manyPinsRoundTrip(t *testing.T, b Backend, public netip.Addr, n int) {
	t.Helper()
	pins := manyPins(public, n)
	if err := b.Install(pins); err != nil {
		t.Fatal(err)
	}
	got, err := b.Pins()
	if err != nil || !cmp.Equal(got, pins, equateNet) {
		t.Fatalf("Pins() = %d pins, %v; want the %d installed", len(got), err, len(pins))
	}
	moved := pins[7]
	moved.Public = netip.AddrPortFrom(public, 60000)
	if err := b.Update([]Pin{moved}, []Pin{pins[7]}); err != nil {
		t.Fatal(err)
	}
	got, _ = b.Pins()
	pins[7] = moved
	if !cmp.Equal(got, pins, equateNet) {
		t.Errorf("after moving one pin: Pins() = %d pins, differing", len(got))
	}
	// All of them out and back in one Update each, as a WAN change or a
	// start with many live flows asks.
	if err := b.Update(nil, pins); err != nil {
		t.Fatalf("Update deleting %d pins: %v", len(pins), err)
	}
	if got, err := b.Pins(); err != nil || len(got) != 0 {
		t.Errorf("after deleting every pin: Pins() = %d pins, %v", len(got), err)
	}
	if err := b.Update(pins, nil); err != nil {
		t.Fatalf("Update adding %d pins: %v", len(pins), err)
	}
	if got, err := b.Pins(); err != nil || !cmp.Equal(got, pins, equateNet) {
		t.Errorf("after adding every pin back: Pins() = %d pins, %v", len(got), err)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
}

// manyPins returns n UDP pins of distinct private and public endpoints,
// sorted as Pins returns them.
func manyPins(public netip.Addr, n int) []Pin {
	pins := make([]Pin, n)
	for i := range pins {
		priv := netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)})
		pins[i] = Pin{conntrackmap.UDP, netip.AddrPortFrom(priv, 5000), netip.AddrPortFrom(public, uint16(10000+i))}
	}
	sortPins(pins)
	return pins
}

// TestNFTManyLANs: hairpinning on 16 LAN interfaces with 16 networks is
// 771 rules, more than one transaction holds, and more answers than a
// receive buffer would if each message asked for one; it installs and
// reads back as installed.
func TestNFTManyLANs(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.Masquerade, LANHosts: 1})
	r := Rules{WAN: l.WANIface, Mapping: true, Hairpin: true}
	for i := range 16 {
		r.LAN = append(r.LAN, fmt.Sprintf("lan%d", i)) // matched by name: they need not exist
		r.Sources = append(r.Sources, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	nft, err := NewNFT(r)
	if err != nil {
		t.Fatal(err)
	}
	b := routerBackend{nft, l.Router}
	if err := b.Install(manyPins(l.Public, 3000)); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Installed(); !ok || err != nil {
		t.Errorf("Installed() = %v, %v; want true", ok, err)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
}
