package enforce

import (
	"fmt"
	"net/netip"

	"github.com/natp2p/natp2p/conntrackmap"
)

// Pin fixes a private endpoint's public endpoint for one protocol.
type Pin struct {
	Proto   conntrackmap.Proto `json:"proto"`
	Private netip.AddrPort     `json:"private"`
	Public  netip.AddrPort     `json:"public"`
}

func (p Pin) String() string { return fmt.Sprintf("%s %s -> %s", p.Proto, p.Private, p.Public) }

// key is a pin's private side.
func (p Pin) key() endpointKey { return endpointKey{p.Proto, p.Private} }

// publicKey is a pin's public side.
func (p Pin) publicKey() endpointKey { return endpointKey{p.Proto, p.Public} }

// endpointKey is an endpoint of one protocol.
type endpointKey struct {
	proto conntrackmap.Proto
	ep    netip.AddrPort
}

// valid reports whether a pin can go into the kernel: UDP or TCP, IPv4
// (NAT44 is what routers do), non-zero ports.
func (p Pin) valid() bool {
	return (p.Proto == conntrackmap.UDP || p.Proto == conntrackmap.TCP) &&
		p.Private.Addr().Is4() && p.Public.Addr().Is4() && p.Private.Port() != 0 && p.Public.Port() != 0
}
