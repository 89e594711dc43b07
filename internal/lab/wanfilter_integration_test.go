//go:build integration && linux

package lab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// TestWANFilter: each WAN filter, in the router's own firewall tool,
// answers a SYN from the internet to the router as configured (nothing,
// a RST, an ICMP error), every time (no ICMP rate limit), while a
// connection the LAN opened gets its answers.
func TestWANFilter(t *testing.T) {
	for _, fw := range backends {
		for _, tt := range []struct {
			filter lab.WANFilter
			want   error // of a SYN to a closed port; nil: no answer
		}{
			{lab.WANDrop, nil}, {lab.WANReject, syscall.ECONNREFUSED}, {lab.WANProhibit, syscall.EHOSTUNREACH},
		} {
			t.Run(string(fw)+"/"+string(tt.filter), func(t *testing.T) {
				l := labtest.New(t, lab.Config{Backend: fw, LANHosts: 1, WANFilter: tt.filter})
				ctx := testCtx(t)
				tool := map[lab.Backend][]string{lab.Nftables: {"nft", "list", "table", "inet", lab.NFTFilterTable},
					lab.Iptables: {"iptables", "-w", "-S", lab.IPTFilterChain}}[fw]
				if _, err := l.Router.Run(ctx, tool[0], tool[1:]...); err != nil {
					t.Errorf("the filter is not in %s: %v", tool[0], err)
				}
				for i := range 10 { // more than Linux's burst of ICMP errors
					err := dialOnce(l, netip.AddrPortFrom(l.Public, 9))
					var ne net.Error
					timedOut := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
					if (tt.want == nil && !timedOut) || (tt.want != nil && !errors.Is(err, tt.want)) {
						t.Fatalf("SYN %d from the WAN: %v, want %v (nil: no answer)", i, err, tt.want)
					}
				}
				srv := netip.AddrPortFrom(l.ServerAddrs[0], 4000)
				if err := l.WAN.TCPEcho(srv); err != nil {
					t.Fatal(err)
				}
				c, err := l.LAN[0].DialTCP(ctx, netip.AddrPortFrom(l.LAN[0].Addr(), 0), srv)
				if err != nil {
					t.Fatalf("the LAN's connection to %v: %v", srv, err)
				}
				c.Close()
			})
		}
	}
}

// dialOnce connects from the WAN host to dst, waiting 300 ms for an answer.
func dialOnce(l *lab.Lab, dst netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c, err := l.WAN.DialTCP(ctx, netip.AddrPortFrom(l.ServerAddrs[1], 0), dst)
	if err == nil {
		c.Close()
	}
	return err
}

// TestBridgeNetfilterBothRouters: BridgeNetfilter applies to both routers
// of a two-router lab.
func TestBridgeNetfilterBothRouters(t *testing.T) {
	l := labtest.New(t, lab.Config{BridgeNetfilter: true, Second: &lab.SiteConfig{}})
	for _, s := range l.Sites() {
		out, err := s.Router.Run(testCtx(t), "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Errorf("%s: bridge-nf-call-iptables = %q, %v; want 1", s.Router.Name, out, err)
		}
	}
}
