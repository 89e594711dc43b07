//go:build integration && linux

package lab_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// TestRouterSettings: the router's bridge netfilter is as configured, a
// host on a second LAN bridge reaches one on br-lan (routed), the WAN
// and an uplink's host, and ForwardDropLAN drops what goes from LAN to
// LAN only. On both firewalls.
func TestRouterSettings(t *testing.T) {
	for _, fw := range backends {
		for _, on := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bridge-nf-and-drop=%t", fw, on), func(t *testing.T) {
				l := labtest.New(t, lab.Config{Backend: fw, LANHosts: 1, BridgeNetfilter: on, ForwardDropLAN: on})
				ctx := testCtx(t)
				out, err := l.Router.Run(ctx, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")
				if want := map[bool]string{false: "0", true: "1"}[on]; err != nil || strings.TrimSpace(string(out)) != want {
					t.Errorf("bridge-nf-call-iptables = %q, %v; want %s", out, err, want)
				}
				hosts, err := l.AddLANBridge(ctx, "br-lan2", netip.MustParsePrefix("192.0.2.1/24"), 1)
				if err != nil {
					t.Fatal(err)
				}
				up, err := l.AddUplink(ctx, "wan1", netip.MustParsePrefix("100.64.1.1/24"), netip.MustParsePrefix("100.64.1.10/24"), false)
				if err != nil {
					t.Fatal(err)
				}
				if hosts[0].Addr() != netip.MustParseAddr("192.0.2.10") {
					t.Errorf("the second bridge's host is %v, want 192.0.2.10", hosts[0].Addr())
				}
				for _, e := range []struct {
					ns   *lab.NS
					want bool
				}{{l.LAN[0], !on}, {l.WAN, true}, {up, true}} {
					dst := netip.AddrPortFrom(e.ns.Addr(), 7000)
					if err := e.ns.UDPEcho(dst); err != nil {
						t.Fatal(err)
					}
					s, err := hosts[0].OpenUDP(netip.AddrPort{})
					if err != nil {
						t.Fatal(err)
					}
					if replied, _ := s.Send(ctx, dst); (len(replied) == 1) != e.want {
						t.Errorf("br-lan2 host -> %v: echoed %v, want %v", dst, len(replied) == 1, e.want)
					}
					s.Close()
				}
			})
		}
	}
}
