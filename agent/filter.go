package agent

import "net/netip"

// Filter decides which kernel flows the table models.
type Filter struct {
	// Public, if non-nil, reports whether an address is one of the router's
	// public (WAN) addresses; flows NATed to other addresses are skipped.
	Public func(netip.Addr) bool
}
