package ctconv

import (
	"net/netip"

	"github.com/natp2p/natp2p/conntrackmap"
)

// Filter decides which kernel flows the table models.
type Filter struct {
	// Public, if non-nil, reports whether an address is one of the router's
	// public (WAN) addresses; flows NATed to other addresses are skipped.
	Public func(netip.Addr) bool
	// LAN, if non-nil, reports whether an address is on a LAN network:
	// a destination-NATed flow from one LAN host to a public address of
	// the router, sent on to another, is a hairpinned flow
	// (conntrackmap.HairpinSource). Nil: no flow is taken for one.
	LAN func(netip.Addr) bool
	// Missed, if non-nil, receives each new UDP or TCP flow from a LAN
	// host to a public address that no NAT translated: a hairpin attempt
	// that no DNAT caught (enforce mode kills it once the pin is there).
	Missed func(conntrackmap.Flow)
}
