//go:build integration && linux

package agent

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// inRouter runs fn in the lab router's namespace, as the daemon runs.
func inRouter(t *testing.T, l *lab.Lab, fn func() error) {
	t.Helper()
	if err := l.Router.Do(fn); err != nil {
		t.Fatal(err)
	}
}

// routerLinks lists the router's links, one line each, without the
// counters that change.
func routerLinks(t *testing.T, l *lab.Lab) string {
	t.Helper()
	out, err := l.Router.Run(context.Background(), "ip", "-o", "-br", "link")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestVantageIsALANHost builds the LAN-side namespace in a lab router: it
// takes the top address of the LAN prefix, its packets leave through the
// router's NAT as a LAN host's do (conntrack shows its address as the
// private source), and closing it leaves the router as it was: no link,
// no ARP entry, the bridge's MAC unchanged.
func TestVantageIsALANHost(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	echo := netip.AddrPortFrom(l.ServerAddrs[0], 4000)
	if err := l.WAN.UDPEcho(echo); err != nil {
		t.Fatal(err)
	}
	// A LAN host's old entry for the address: the vantage must not
	// overwrite it (it sends no ARP request, whose sender address would).
	if _, err := l.LAN[0].Run(context.Background(), "ip", "neigh", "replace", "198.51.100.254",
		"lladdr", "02:00:00:00:00:aa", "dev", "eth0", "nud", "stale"); err != nil {
		t.Fatal(err)
	}
	before := routerLinks(t, l)
	var v *vantage
	closed := false
	inRouter(t, l, func() (err error) {
		v, err = openVantage(context.Background(), l.LANIface, netip.PrefixFrom(l.RouterLAN, 24), netip.Addr{})
		return err
	})
	t.Cleanup(func() { // also when a check below stops the test
		if !closed {
			v.close()
		}
	})
	if want := netip.MustParseAddr("198.51.100.254"); v.addr != want {
		t.Errorf("vantage address %s, want %s (the top of the LAN prefix)", v.addr, want)
	}
	during := routerLinks(t, l)
	// The lab's bridge has 02:6e:70:00:00:01: the vantage's MACs follow it.
	if !strings.Contains(during, vantageLink+"@") || !strings.Contains(during, "fe:6e:70:00:00:01") {
		t.Errorf("router links during the probe:\n%s\nwant %s with MAC fe:6e:70:00:00:01", during, vantageLink)
	}
	var got []byte
	err := v.enter(func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(echo))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("vantage")); err != nil {
			return err
		}
		got = make([]byte, 64)
		n, err := c.Read(got)
		got = got[:n]
		return err
	})
	if err != nil || string(got) == "" {
		t.Errorf("echo from inside the vantage: %q, %v", got, err)
	}
	// No IPv6 inside: SLAAC would give eth0 a global address from the
	// LAN's router advertisements.
	v.enter(func() error {
		if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + vantagePeer + "/disable_ipv6"); err == nil && string(b) != "1\n" {
			t.Errorf("disable_ipv6 on the namespace's %s: %q, want 1", vantagePeer, b)
		}
		return nil
	})
	if neigh, _ := l.LAN[0].Run(context.Background(), "ip", "neigh", "show", v.addr.String()); !strings.Contains(string(neigh), "02:00:00:00:00:aa") {
		t.Errorf("a LAN host's entry for the vantage address changed: %s", neigh)
	}
	if neigh, _ := l.Router.Run(context.Background(), "ip", "neigh", "show", v.addr.String()); !strings.Contains(string(neigh), "06:6e:70:00:00:01 PERMANENT") {
		t.Errorf("the router's entry for the vantage: %q, want a permanent one at 06:6e:70:00:00:01", neigh)
	}
	flows, err := l.Flows(context.Background(), "-p", "udp")
	if err != nil {
		t.Fatal(err)
	}
	natted := false
	for _, f := range flows {
		natted = natted || (f.OrigSrc.Addr() == v.addr && f.ReplyDst.Addr() == l.Public)
	}
	if !natted {
		t.Errorf("conntrack has no flow from %s NATed to %s: %+v", v.addr, l.Public, flows)
	}
	closed = true
	if err := v.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if after := routerLinks(t, l); after != before {
		t.Errorf("router links after the probe:\n%s\nbefore:\n%s", after, before)
	}
	neigh, _ := l.Router.Run(context.Background(), "ip", "neigh", "show", "dev", l.LANIface)
	if strings.Contains(string(neigh), v.addr.String()+" ") {
		t.Errorf("the router still has an ARP entry for the vantage:\n%s", neigh)
	}
}

// TestVantageAddressChoice: the vantage takes no address the router holds
// (a secondary .254 on the bridge), dnsmasq leased (.253), a neighbour
// entry shows answered (.251) or a LAN host answers for when the router
// asks (.252, unknown to the router before); a configured address a host
// answers for, or outside the LAN prefix, is refused.
func TestVantageAddressChoice(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	ctx := context.Background()
	leases := filepath.Join(t.TempDir(), "dhcp.leases")
	if err := os.WriteFile(leases, []byte("1900000000 02:00:00:00:00:fd 198.51.100.253 laptop *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	was := dhcpLeases
	dhcpLeases = leases
	t.Cleanup(func() { dhcpLeases = was })
	for _, args := range [][]string{{"addr", "add", "198.51.100.254/24", "dev", l.LANIface},
		{"neigh", "replace", "198.51.100.251", "lladdr", "02:00:00:00:00:fb", "dev", l.LANIface, "nud", "permanent"}} {
		if _, err := l.Router.Run(ctx, "ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.LAN[0].Run(ctx, "ip", "addr", "add", "198.51.100.252/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	lan := netip.PrefixFrom(l.RouterLAN, 24)
	inRouter(t, l, func() error {
		v, err := openVantage(context.Background(), l.LANIface, lan, netip.Addr{})
		if err != nil {
			return err
		}
		defer v.close()
		if want := netip.MustParseAddr("198.51.100.250"); v.addr != want {
			t.Errorf("vantage address %s, want %s (.254 is the router's, .253 leased, .252 and .251 answered)", v.addr, want)
		}
		return nil
	})
	for addr, want := range map[string]string{"192.0.2.7": "not a free host address of the LAN prefix",
		"198.51.100.252": "probe namespace address 198.51.100.252: a LAN host (", "198.51.100.254": "the router's own address"} {
		inRouter(t, l, func() error {
			_, err := openVantage(context.Background(), l.LANIface, lan, netip.MustParseAddr(addr))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("configured address %s: %v, want %q", addr, err, want)
			}
			return nil
		})
	}
	if links := routerLinks(t, l); strings.Contains(links, vantageLink) {
		t.Errorf("a refused vantage left its link:\n%s", links)
	}
}

// TestVantageNeedsABridge: on a LAN interface that is no bridge there is
// (here a veth, as a DSA port or a VLAN device would be) there is no
// vantage, and the reason says so.
func TestVantageNeedsABridge(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	if err := l.AddPlainLAN(context.Background(), "lan1", netip.MustParsePrefix("192.0.2.1/24")); err != nil {
		t.Fatal(err)
	}
	inRouter(t, l, func() error {
		_, err := openVantage(context.Background(), "lan1", netip.MustParsePrefix("192.0.2.1/24"), netip.Addr{})
		if err == nil || err.Error() != "LAN interface lan1 is a veth, not a bridge" {
			t.Errorf("vantage on a dummy LAN: %v", err)
		}
		return nil
	})
}

// TestVantageLeftover: a veth of the vantage's name, as a killed agent
// might leave, is removed; a link of that name that is not a veth is not
// natp2p's and stays. A permanent neighbour entry at the vantage's MAC
// (derived from the bridge's) is recognised as its own: the address is
// taken again, and the entry goes with the vantage.
func TestVantageLeftover(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	ctx := context.Background()
	if _, err := l.Router.Run(ctx, "ip", "link", "add", vantageLink, "type", "veth", "peer", "name", "np2p-old"); err != nil {
		t.Fatal(err)
	}
	inRouter(t, l, removeVantageLeftover)
	if links := routerLinks(t, l); strings.Contains(links, vantageLink) || strings.Contains(links, "np2p-old") {
		t.Errorf("leftover veth pair still there:\n%s", links)
	}
	if _, err := l.Router.Run(ctx, "ip", "link", "add", vantageLink, "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	inRouter(t, l, func() error {
		if err := removeVantageLeftover(); err == nil || !strings.Contains(err.Error(), "not natp2p's veth") {
			t.Errorf("removing a foreign bridge: %v", err)
		}
		return nil
	})
	if links := routerLinks(t, l); !strings.Contains(links, vantageLink) {
		t.Errorf("a foreign %s was removed:\n%s", vantageLink, links)
	}
	if _, err := l.Router.Run(ctx, "ip", "link", "del", vantageLink); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Router.Run(ctx, "ip", "neigh", "replace", "198.51.100.254", "lladdr", "06:6e:70:00:00:01",
		"dev", l.LANIface, "nud", "permanent"); err != nil {
		t.Fatal(err)
	}
	inRouter(t, l, func() error {
		v, err := openVantage(ctx, l.LANIface, netip.PrefixFrom(l.RouterLAN, 24), netip.Addr{})
		if err != nil {
			return err
		}
		if want := netip.MustParseAddr("198.51.100.254"); v.addr != want {
			t.Errorf("vantage address %s, want %s (the old entry is its own)", v.addr, want)
		}
		return v.close()
	})
	if neigh, _ := l.Router.Run(ctx, "ip", "neigh", "show", "198.51.100.254"); strings.Contains(string(neigh), "PERMANENT") {
		t.Errorf("the old neighbour entry is still there: %s", neigh)
	}
}

// TestVantageBridgeWithoutPorts: a bridge whose only port would be the
// veth is refused before anything is created; its MAC would follow the
// veth's, and be zero after.
func TestVantageBridgeWithoutPorts(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	ctx := context.Background()
	for _, args := range [][]string{{"link", "add", "br-empty", "type", "bridge"},
		{"addr", "add", "192.0.2.1/24", "dev", "br-empty"}, {"link", "set", "br-empty", "up"}} {
		if _, err := l.Router.Run(ctx, "ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	wantRefused(t, l, "br-empty", netip.MustParsePrefix("192.0.2.1/24"), "has no port")
}

// TestVantageRefusesSTP: on a bridge running STP nothing is created (a
// port per probe would change the topology).
func TestVantageRefusesSTP(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	ctx := context.Background()
	if _, err := l.Router.Run(ctx, "ip", "link", "set", l.LANIface, "type", "bridge", "stp_state", "1"); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, l, l.LANIface, netip.PrefixFrom(l.RouterLAN, 24), "runs STP")
}

// wantRefused checks that no vantage opens on lan, for the reason want,
// and that the router's links are as before.
func wantRefused(t *testing.T, l *lab.Lab, lan string, prefix netip.Prefix, want string) {
	t.Helper()
	before := routerLinks(t, l)
	inRouter(t, l, func() error {
		v, err := openVantage(context.Background(), lan, prefix, netip.Addr{})
		if err == nil {
			v.close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("vantage on %s: %v, want %q", lan, err, want)
		}
		return nil
	})
	if after := routerLinks(t, l); after != before {
		t.Errorf("router links after:\n%s\nbefore:\n%s", after, before)
	}
}
