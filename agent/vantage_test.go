package agent

import (
	"maps"
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestVantageCandidates(t *testing.T) {
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
			got := vantageCandidates(netip.MustParsePrefix(tt.lan), func(a netip.Addr) bool { return tt.taken[a] }, 2)
			if tt.want == "" {
				if len(got) != 0 {
					t.Errorf("got %s, want none", got)
				}
				return
			}
			if len(got) == 0 || got[0] != netip.MustParseAddr(tt.want) {
				t.Errorf("got %s; want %s first", got, tt.want)
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

func TestVantageCandidatesDownward(t *testing.T) {
	taken := map[netip.Addr]bool{netip.MustParseAddr("192.168.1.253"): true}
	got := vantageCandidates(netip.MustParsePrefix("192.168.1.1/24"), func(a netip.Addr) bool { return taken[a] }, 3)
	want := []netip.Addr{netip.MustParseAddr("192.168.1.254"), netip.MustParseAddr("192.168.1.252"), netip.MustParseAddr("192.168.1.251")}
	if !slices.Equal(got, want) {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestLeased reads dnsmasq's lease file format; IPv6 lines and junk are
// skipped.
func TestLeased(t *testing.T) {
	used := map[netip.Addr]string{}
	leased([]byte("1700000000 02:11:22:33:44:55 192.168.1.254 laptop 01:02:11:22:33:44:55\n"+
		"1700000000 00:00:00:00:00:00 fd00::5 phone 00:01\nduid 00:01:00:01\n\ngarbage\n"), used)
	want := map[netip.Addr]string{netip.MustParseAddr("192.168.1.254"): "leased by dnsmasq to 02:11:22:33:44:55"}
	if !maps.Equal(used, want) {
		t.Errorf("got %v, want %v", used, want)
	}
}

// TestVantageMACs: derived from the bridge's MAC, so two routers differ;
// locally administered unicast; never the bridge's own.
func TestVantageMACs(t *testing.T) {
	for _, tt := range []struct{ br, inside, host string }{
		{"02:6e:70:00:00:01", "06:6e:70:00:00:01", "fe:6e:70:00:00:01"},
		{"94:83:c4:12:34:56", "06:83:c4:12:34:56", "fe:83:c4:12:34:56"},
		{"94:83:c4:12:34:57", "06:83:c4:12:34:57", "fe:83:c4:12:34:57"},
		{"06:83:c4:12:34:56", "0e:83:c4:12:34:56", "fe:83:c4:12:34:56"},
	} {
		br, _ := net.ParseMAC(tt.br)
		inside, host := vantageMACs(br)
		if inside.String() != tt.inside || host.String() != tt.host {
			t.Errorf("vantageMACs(%s) = %s, %s; want %s, %s", tt.br, inside, host, tt.inside, tt.host)
		}
		if inside[0]&3 != 2 || host[0]&3 != 2 {
			t.Errorf("vantageMACs(%s) = %s, %s: not locally administered unicast", tt.br, inside, host)
		}
	}
}
