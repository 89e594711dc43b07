//go:build integration

package enforce

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

func TestIPTBackend(t *testing.T) {
	testBackend(t, lab.Iptables, func(r Rules) (Backend, error) { return NewIPT(r) })
}

// TestIPTBackendLegacy runs the same test with iptables-legacy (fw3's
// OpenWrt), when installed, by putting it first in PATH as iptables.
func TestIPTBackendLegacy(t *testing.T) {
	useLegacy(t)
	testBackend(t, lab.Iptables, func(r Rules) (Backend, error) { return NewIPT(r) })
}

func useLegacy(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range []string{"iptables", "iptables-restore", "iptables-save"} {
		legacy, err := exec.LookPath(strings.Replace(tool, "iptables", "iptables-legacy", 1))
		if err != nil {
			t.Skipf("no iptables-legacy: %v", err)
		}
		if err := os.Symlink(legacy, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestIPTManyPins loads thousands of pins in one iptables-restore, reads
// them back, and updates one of them.
func TestIPTManyPins(t *testing.T) {
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
			ipt, err := NewIPT(Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Mapping: true, Hairpin: true})
			if err != nil {
				t.Fatal(err)
			}
			manyPinsRoundTrip(t, routerBackend{ipt, l.Router}, l.Public, 2000)
		})
	}
}

// TestIPTJumps: the jumps come first and once; a firewall reload that drops
// them makes Installed false until Install; a missing rule fails Update;
// Install without hairpinning takes NATP2P_PRE away; without mapping, the
// pins read back from the hairpin rules.
func TestIPTJumps(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.Masquerade, Backend: lab.Iptables, LANHosts: 1})
	r := Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Mapping: true, Hairpin: true}
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

	b = newB(Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Hairpin: true})
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
