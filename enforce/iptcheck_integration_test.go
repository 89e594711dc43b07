//go:build integration

package enforce

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// listCounter is the exec runner, counting the listings (iptables -S).
type listCounter struct {
	execRunner
	lists atomic.Int64
}

func (c *listCounter) Run(argv []string, stdin []byte) ([]byte, error) {
	for _, a := range argv {
		if a == "-S" {
			c.lists.Add(1)
		}
	}
	return c.execRunner.Run(argv, stdin)
}

// TestIPTCheckListsOnChange: on both flavours, the rule check lists the
// nat table once after Install, then not while idle nor after natp2p's
// own updates; a foreign rule, a flush of natp2p's chain or of the whole
// table makes the next check list (and the table flush is found).
func TestIPTCheckListsOnChange(t *testing.T) {
	labtest.EachFlavour(t, func(t *testing.T, f lab.Flavour) {
		l := labtest.New(t, lab.Config{NAT: lab.Masquerade, Backend: lab.Iptables, LANHosts: 1})
		run := &listCounter{}
		ipt, err := newIPT(Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Sources: labLAN, Mapping: true, Hairpin: true}, run)
		if err != nil {
			t.Fatal(err)
		}
		if ipt.nft != (f == lab.IptablesNFT) {
			t.Fatalf("flavour %s, backend says nf_tables %v", f, ipt.nft)
		}
		ipt.stamper = newIPTStamper(ipt.nft)
		b := routerBackend{ipt, l.Router}
		pin := func(port uint16) Pin {
			return Pin{conntrackmap.UDP, netip.AddrPortFrom(l.LAN[0].Addr(), port), netip.AddrPortFrom(l.Public, 40000+port)}
		}
		if err := b.Install([]Pin{pin(1)}); err != nil {
			t.Fatal(err)
		}
		// check runs Installed and wants ok; it returns how many listings
		// that took.
		check := func(what string, want bool) int64 {
			t.Helper()
			n := run.lists.Load()
			if ok, err := b.Installed(); ok != want || err != nil {
				t.Fatalf("%s: Installed() = %v, %v; want %v", what, ok, err, want)
			}
			return run.lists.Load() - n
		}
		if n := check("first check", true); n == 0 {
			t.Error("the first check after Install did not list")
		}
		for i := range 20 {
			if n := check("idle", true); n != 0 {
				t.Fatalf("idle check %d listed %d times", i, n)
			}
		}
		for i := range uint16(5) {
			if err := b.Update([]Pin{pin(100 + i)}, nil); err != nil {
				t.Fatal(err)
			}
			if n := check("after an update", true); n != 0 {
				t.Errorf("the check after natp2p's update %d listed %d times", i, n)
			}
		}
		ctx := context.Background()
		for _, c := range []struct {
			what      string
			cmd       string
			installed bool
		}{
			{"a foreign rule", "iptables -w -t nat -A POSTROUTING -o wan0 -p udp --dport 9 -j MASQUERADE", true},
			{"natp2p's chain flushed", "iptables -w -t nat -F " + IPTPost, true},
			{"the table flushed", "iptables -w -t nat -F; iptables -w -t nat -X", false},
		} {
			if _, err := l.Router.Run(ctx, "sh", "-c", c.cmd); err != nil {
				t.Fatal(err)
			}
			if n := check(c.what, c.installed); n == 0 {
				t.Errorf("%s: the check did not list", c.what)
			}
			if c.installed {
				if n := check(c.what+", again", true); n != 0 {
					t.Errorf("%s: the check after listed %d times", c.what, n)
				}
			}
		}
		if out, err := l.Router.Run(ctx, "iptables", "--version"); err != nil || !strings.Contains(string(out), map[lab.Flavour]string{
			lab.IptablesNFT: "nf_tables", lab.IptablesLegacy: "legacy"}[f]) {
			t.Errorf("the router's iptables is %q, %v; want %s", out, err, f)
		}
	})
}
