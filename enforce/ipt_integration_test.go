//go:build integration

package enforce

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

func TestIPTBackend(t *testing.T) {
	labtest.EachFlavour(t, func(t *testing.T, _ lab.Flavour) {
		testBackend(t, lab.Iptables, func(r Rules) (Backend, error) { return NewIPT(r) })
	})
}

// TestIPTManyPins loads thousands of pins in one iptables-restore, reads
// them back, and updates one of them.
func TestIPTManyPins(t *testing.T) {
	labtest.EachFlavour(t, func(t *testing.T, _ lab.Flavour) {
		l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: lab.Iptables, LANHosts: 1})
		ipt, err := NewIPT(Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Sources: labLAN, Mapping: true, Hairpin: true})
		if err != nil {
			t.Fatal(err)
		}
		manyPinsRoundTrip(t, routerBackend{ipt, l.Router}, l.Public, 2000)
	})
}

// TestIPTJumps: the jumps come first and once; a firewall reload that drops
// them makes Installed false until Install; a missing rule fails Update;
// Install without hairpinning takes NATP2P_PRE away; without mapping, the
// pins read back from the hairpin rules.
func TestIPTJumps(t *testing.T) { labtest.EachFlavour(t, testIPTJumps) }

func testIPTJumps(t *testing.T, _ lab.Flavour) {
	l := labtest.New(t, lab.Config{NAT: lab.Masquerade, Backend: lab.Iptables, LANHosts: 1})
	r := Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Sources: labLAN, Mapping: true, Hairpin: true}
	newB := func(r Rules) routerBackend {
		ipt, err := NewIPT(r)
		if err != nil {
			t.Fatal(err)
		}
		return routerBackend{ipt, l.Router}
	}
	b := newB(r)
	chain := func(name string) []string {
		out, err := l.Router.Run(context.Background(), "iptables", "-w", "-t", "nat", "-S", name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	pin := Pin{conntrackmap.UDP, netip.AddrPortFrom(l.LAN[0].Addr(), 5000), netip.AddrPortFrom(l.Public, 40000)}
	for range 2 {
		if err := b.Install([]Pin{pin}); err != nil {
			t.Fatal(err)
		}
	}
	post := []string{"-P POSTROUTING ACCEPT", "-A POSTROUTING -j " + IPTPost, "-A POSTROUTING -j " + IPTHair,
		"-A POSTROUTING -o wan0 -j MASQUERADE"}
	if got := chain("POSTROUTING"); !cmp.Equal(got, post) {
		t.Errorf("POSTROUTING after two Installs = %q, want %q", got, post)
	}
	if got := chain("PREROUTING"); !cmp.Equal(got, []string{"-P PREROUTING ACCEPT", "-A PREROUTING -j " + IPTPre}) {
		t.Errorf("PREROUTING after two Installs = %q", got)
	}
	if got := chain(IPTPost); len(got) != 3 { // -N and two rules
		t.Errorf("%s after two Installs = %q, want one pin's two rules", IPTPost, got)
	}

	if _, err := l.Router.Run(context.Background(), "iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-j", IPTPre); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Installed(); ok || err != nil {
		t.Errorf("Installed() without the PREROUTING jump = %v, %v; want false", ok, err)
	}
	if err := b.Update(nil, []Pin{{conntrackmap.UDP, pin.Private, netip.AddrPortFrom(l.Public, 40001)}}); err == nil {
		t.Error("Update deleting a missing pin: no error")
	} else {
		t.Logf("Update deleting a missing pin: %v", err)
	}

	b = newB(Rules{WAN: l.WANIface, Mapping: true})
	if err := b.Install([]Pin{pin}); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Installed(); !ok || err != nil {
		t.Errorf("Installed() = %v, %v; want true", ok, err)
	}
	if out, _ := l.Router.Run(context.Background(), "iptables-save", "-t", "nat"); strings.Contains(string(out), IPTPre) ||
		strings.Contains(string(out), IPTHair) {
		t.Errorf("%s or %s still there after an Install without hairpinning:\n%s", IPTPre, IPTHair, out)
	}

	b = newB(Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Sources: labLAN, Hairpin: true})
	if err := b.Install([]Pin{pin}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Pins(); err != nil || !cmp.Equal(got, []Pin{pin}, equateNet) {
		t.Errorf("Pins() without mapping = %v, %v; want %v", got, err, pin)
	}
	if got := chain(IPTPost); len(got) != 2 || strings.Contains(got[1], " -o wan0 ") {
		t.Errorf("%s without mapping = %q, want the hairpin SNAT only", IPTPost, got)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
}

// TestIPTPreservePorts: under the router's fully-random masquerade, with
// Rules.Preserve a LAN endpoint without a pin keeps its port to every
// server at once (no pin, no event needed); the jump to NATP2P_MASQ comes
// after NATP2P_POST, so that pins win, and before the router's masquerade;
// a missing jump is noticed; Remove restores the nat table exactly.
func TestIPTPreservePorts(t *testing.T) { labtest.EachFlavour(t, testIPTPreservePorts) }

func testIPTPreservePorts(t *testing.T, _ lab.Flavour) {
	bl := newBackendLab(t, lab.Iptables, func(r Rules) (Backend, error) { return NewIPT(r) })
	ctx := context.Background()
	save := func() string {
		out, err := bl.Router.Run(ctx, "iptables-save", "-t", "nat")
		if err != nil {
			t.Fatal(err)
		}
		return stripCounters(string(out))
	}
	before := save()
	lanNet := netip.PrefixFrom(bl.LAN[0].Addr(), 24).Masked()
	r := Rules{WAN: bl.WANIface, LAN: []string{bl.LANIface}, Sources: labLAN, Mapping: true, Hairpin: true}
	plain, err := NewIPT(r)
	if err != nil {
		t.Fatal(err)
	}
	r.Preserve = []netip.Prefix{lanNet}
	ipt, err := NewIPT(r)
	if err != nil {
		t.Fatal(err)
	}
	var random, randomPreserved bool
	bl.Router.Do(func() (err error) {
		if random, err = plain.RandomNAT(); err != nil {
			t.Error(err)
		}
		if randomPreserved, err = ipt.RandomNAT(); err != nil {
			t.Error(err)
		}
		return nil
	})
	if !random || randomPreserved {
		t.Errorf("RandomNAT() under --random-fully = %v, with Preserve %v; want true, false", random, randomPreserved)
	}

	b := routerBackend{ipt, bl.Router}
	pin := Pin{conntrackmap.UDP, netip.AddrPortFrom(bl.LAN[1].Addr(), 5000), netip.AddrPortFrom(bl.Public, 40000)}
	if err := b.Install([]Pin{pin}); err != nil {
		t.Fatal(err)
	}
	out, err := bl.Router.Run(ctx, "iptables", "-w", "-t", "nat", "-S", "POSTROUTING")
	if err != nil {
		t.Fatal(err)
	}
	post := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{"-P POSTROUTING ACCEPT", "-A POSTROUTING -j " + IPTPost, "-A POSTROUTING -j " + IPTHair,
		"-A POSTROUTING -j " + IPTMasq}
	if len(post) < len(want)+1 || !cmp.Equal(post[:len(want)], want) {
		t.Errorf("POSTROUTING = %q, want %q first, then the router's rules", post, want)
	}

	// An unpinned endpoint keeps its port to both servers; a pinned one
	// keeps its pin.
	src := netip.AddrPortFrom(bl.LAN[0].Addr(), 5000)
	if got := bl.publicsSeen(t, 0, src); len(got) != 1 || got[0] != netip.AddrPortFrom(bl.Public, 5000) {
		t.Errorf("%v without a pin reached the servers from %v, want %v:5000 only", src, got, bl.Public)
	}
	// (The servers remember every peer: the first endpoint's is still there.)
	if got := bl.publicsSeen(t, 1, pin.Private); len(got) != 2 || !slices.Contains(got, pin.Public) {
		t.Errorf("pinned %v: the servers saw %v, want its pin %v besides %v:5000", pin.Private, got, pin.Public, bl.Public)
	}

	if _, err := bl.Router.Run(ctx, "iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-j", IPTMasq); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Installed(); ok || err != nil {
		t.Errorf("Installed() without the %s jump = %v, %v; want false", IPTMasq, ok, err)
	}
	if err := b.Install(nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Installed(); !ok || err != nil {
		t.Errorf("Installed() after Install = %v, %v; want true", ok, err)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if after := save(); after != before {
		t.Errorf("nat table after Remove:\n%s\nbefore:\n%s", after, before)
	}
}
