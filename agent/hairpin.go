package agent

import (
	"net/netip"
	"slices"

	"github.com/natp2p/natp2p/conntrackmap"
)

// sysctlBridgeNF is br_netfilter's switch: 1 passes bridged IPv4 packets
// through the iptables and nftables ip hooks. The key exists only while
// br_netfilter is loaded, and is per network namespace.
const sysctlBridgeNF = "net.bridge.bridge-nf-call-iptables"

// maxReplyLookups bounds the kernel lookups one report makes.
const maxReplyLookups = conntrackmap.DefaultEvidence

// lanNetworks returns the networks of the LAN interfaces, for the filter's
// hairpin test; none when they cannot be read.
func lanNetworks(lan []string) []netip.Prefix {
	nets, err := LANPrefixes(lan)
	if err != nil {
		return nil
	}
	return nets
}

// isLAN reports whether addr is on a LAN network.
func (a *Agent) isLAN(addr netip.Addr) bool {
	for _, p := range a.lanNets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// refreshReplies asks the kernel whether the live hairpinned flows that
// had no reply have one now, and tells the table. The daemon follows
// conntrack's new and destroy events only (update events would multiply
// its load), so a reply shows here, when a report asks for it, or in the
// flow's destroy event.
func (a *Agent) refreshReplies() {
	if a.replies == nil {
		return
	}
	var ask []conntrackmap.HairpinFlow
	for _, h := range a.table.LiveHairpins(maxReplyLookups) {
		if !h.Replied {
			ask = append(ask, h)
		}
	}
	if len(ask) > 0 {
		a.table.MarkReplied(a.replies(ask, a.filter))
	}
}

// bridgeNF reads net.bridge.bridge-nf-call-iptables; nil when br_netfilter
// is not loaded (the key is missing) or it cannot be read.
func (a *Agent) bridgeNF() *int {
	v, ok := a.cfg.System.Sysctls([]string{sysctlBridgeNF})[sysctlBridgeNF]
	if !ok {
		return nil
	}
	return &v
}

// enforcerEvents hands the enforcer the events it acts on: every one but
// those of hairpinned flows whose receiver saw a private source. No
// source NAT to a WAN address touched those, so they carry no mapping to
// pin, and the filter kept them for the report only.
func enforcerEvents(next func([]conntrackmap.Event)) func([]conntrackmap.Event) {
	private := func(ev conntrackmap.Event) bool { return ev.Flow.Hairpin == conntrackmap.HairpinPrivate }
	return func(evs []conntrackmap.Event) {
		if slices.ContainsFunc(evs, private) {
			evs = slices.DeleteFunc(slices.Clone(evs), private)
		}
		next(evs)
	}
}
