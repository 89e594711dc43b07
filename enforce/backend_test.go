package enforce

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRulesValidate(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	for _, tt := range []struct {
		r    Rules
		want string // "" for valid
	}{
		{Rules{WAN: "wan0", Mapping: true}, ""},
		{Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lan, Mapping: true, Hairpin: true, Preserve: lan}, ""},
		{Rules{Mapping: true}, "no WAN interface"},
		{Rules{WAN: "wan0"}, "neither mapping nor hairpinning"},
		{Rules{WAN: "wan0", Hairpin: true}, "needs a LAN interface"},
		{Rules{WAN: "a-very-long-interface", Mapping: true}, "bad interface name"},
		{Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lan, Hairpin: true, Preserve: lan}, "needs mapping"},
		{Rules{WAN: "wan0", LAN: []string{"br-lan"}, Hairpin: true}, "needs the LAN networks"},
		{Rules{WAN: "wan0", LAN: []string{"br-lan", "wan0"}, Sources: lan, Hairpin: true}, "the WAN wan0 is among the LAN interfaces"},
		{Rules{WAN: "wan0", LAN: []string{"wan0"}, Mapping: true}, "the WAN wan0 is among the LAN interfaces"},
		{Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Hairpin: true}, "bad LAN network"},
		{Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: []netip.Prefix{netip.MustParsePrefix("192.168.1.1/24")}, Hairpin: true}, "bad LAN network"},
		{Rules{WAN: "wan0", Mapping: true, Preserve: []netip.Prefix{netip.MustParsePrefix("192.168.1.1/24")}}, "bad prefix"},
		{Rules{WAN: "wan0", Mapping: true, Preserve: []netip.Prefix{netip.MustParsePrefix("fd00::/64")}}, "bad prefix"},
		{Rules{WAN: "wan0", Mapping: true, Preserve: []netip.Prefix{{}}}, "bad prefix"},
	} {
		err := tt.r.validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v.validate() = %v, want %q", tt.r, err, tt.want)
		}
	}
}
