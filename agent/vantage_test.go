package agent

import (
	"net/netip"
	"testing"
)

func TestPickVantageAddr(t *testing.T) {
	taken := map[netip.Addr]bool{netip.MustParseAddr("192.168.1.254"): true}
	for _, tt := range []struct {
		name, lan, want string
		taken           map[netip.Addr]bool
	}{
		{name: "top of a /24", lan: "192.168.1.1/24", want: "192.168.1.254"},
		{name: "a neighbour holds the top", lan: "192.168.1.1/24", want: "192.168.1.253", taken: taken},
		{name: "the router at the top", lan: "10.0.0.254/24", want: "10.0.0.253"},
		{name: "a /30", lan: "10.0.0.1/30", want: "10.0.0.2"},
		{name: "a /31 has no room", lan: "10.0.0.0/31"},
		{name: "a /30 with its other host taken", lan: "192.168.1.253/30",
			taken: map[netip.Addr]bool{netip.MustParseAddr("192.168.1.254"): true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pickVantageAddr(netip.MustParsePrefix(tt.lan), func(a netip.Addr) bool { return tt.taken[a] })
			if tt.want == "" {
				if err == nil {
					t.Errorf("got %s, want an error", got)
				}
				return
			}
			if err != nil || got != netip.MustParseAddr(tt.want) {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestCheckVantageAddr(t *testing.T) {
	lan := netip.MustParsePrefix("192.168.1.1/24")
	for addr, ok := range map[string]bool{"192.168.1.254": true, "192.168.1.2": true, "192.168.1.1": false,
		"192.168.1.0": false, "192.168.1.255": false, "192.168.2.254": false} {
		if err := checkVantageAddr(lan, netip.MustParseAddr(addr)); (err == nil) != ok {
			t.Errorf("checkVantageAddr(%s, %s) = %v, want ok %v", lan, addr, err, ok)
		}
	}
}

// TestCheckVantageAddrIPv6: an IPv6 address is refused, not a panic.
func TestCheckVantageAddrIPv6(t *testing.T) {
	if err := checkVantageAddr(netip.MustParsePrefix("192.168.1.1/24"), netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("an IPv6 address was accepted")
	}
}
