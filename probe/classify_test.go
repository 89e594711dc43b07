package probe

import (
	"net/netip"
	"testing"
)

var ap = netip.MustParseAddrPort

func answered(mapped string) Test { return Test{Answered: true, Mapped: ap(mapped)} }

func TestMappingBehaviour(t *testing.T) {
	none := Test{}
	tests := []struct {
		name       string
		i, ii, iii Test
		want       Behaviour
	}{
		{"same everywhere", answered("203.0.113.1:4000"), answered("203.0.113.1:4000"), answered("203.0.113.1:4000"), EndpointIndependent},
		{"new port per address", answered("203.0.113.1:4000"), answered("203.0.113.1:4001"), answered("203.0.113.1:4001"), AddressDependent},
		{"new port per address and port", answered("203.0.113.1:4000"), answered("203.0.113.1:4001"), answered("203.0.113.1:4002"), AddressAndPortDependent},
		{"no answer to test I", none, answered("203.0.113.1:4000"), answered("203.0.113.1:4000"), Unknown},
		{"no answer to test II", answered("203.0.113.1:4000"), none, answered("203.0.113.1:4000"), Unknown},
		{"test III needed but unanswered", answered("203.0.113.1:4000"), answered("203.0.113.1:4001"), none, Unknown},
		{"test III not needed", answered("203.0.113.1:4000"), answered("203.0.113.1:4000"), none, EndpointIndependent},
	}
	for _, tt := range tests {
		if got := mappingBehaviour(tt.i, tt.ii, tt.iii); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestFilteringBehaviour(t *testing.T) {
	primary, other := ap("203.0.113.10:3478"), ap("203.0.113.11:3479")
	from := func(a string) Test { return Test{Answered: true, From: ap(a)} }
	none := Test{}
	tests := []struct {
		name    string
		ii, iii Test
		other   netip.AddrPort
		want    Behaviour
	}{
		{"both pass", from("203.0.113.11:3479"), from("203.0.113.10:3479"), other, EndpointIndependent},
		{"other port passes", none, from("203.0.113.10:3479"), other, AddressDependent},
		{"nothing passes", none, none, other, AddressAndPortDependent},
		{"server ignored CHANGE-REQUEST", from("203.0.113.10:3478"), none, other, Unknown},
		{"changed port from the wrong address", none, from("203.0.113.11:3479"), other, Unknown},
		{"no RFC 5780 server", none, none, netip.AddrPort{}, Unknown},
	}
	for _, tt := range tests {
		if got := filteringBehaviour(tt.ii, tt.iii, primary, tt.other); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
