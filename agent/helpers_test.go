package agent

import "net/netip"

var ap = netip.MustParseAddrPort
