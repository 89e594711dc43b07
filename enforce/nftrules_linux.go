//go:build linux

package enforce

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

// Registers: 32-bit ones, so that a concatenated key fills consecutive
// registers the way nft lays them out.
const (
	reg32a  = 8 // NFT_REG32_00
	reg32b  = 9
	reg32c  = 10
	reg32e  = 12
	reg32f  = 13
	regWide = 1 // NFT_REG_1, for interface names and ct status
)

// ctStateNew is ct state new's bit.
const ctStateNew = 1 << 3

// IPS_SRC_NAT and IPS_DST_NAT of ct status.
const (
	ipsSrcNAT = 0x10
	ipsDstNAT = 0x20
)

// NAT chain priorities (nft's srcnat and dstnat) and hooks.
const (
	prioSrcNAT = 100
	prioDstNAT = -100
)

// addChains adds the chains and their rules, the learn chain empty.
func (n *NFT) addChains(b *nftBatch) {
	b.addChain(NFTTable, nftPostrouting, "nat", unix.NF_INET_POST_ROUTING, prioSrcNAT-1)
	for _, r := range n.postRules() {
		b.addRule(NFTTable, nftPostrouting, r)
	}
	if n.rules.Mapping {
		b.addChain(NFTTable, nftLearn, "filter", unix.NF_INET_POST_ROUTING, prioSrcNAT+1)
	}
	if !n.rules.Hairpin {
		return
	}
	b.addChain(NFTTable, nftPrerouting, "nat", unix.NF_INET_PRE_ROUTING, prioDstNAT-1)
	for _, r := range n.preRules() {
		b.addRule(NFTTable, nftPrerouting, r)
	}
}

// postRules: the SNAT to the pin on WAN output, and, for hairpinning, on
// LAN output of packets the prerouting DNAT redirected.
func (n *NFT) postRules() [][]rawExpr {
	var rules [][]rawExpr
	if n.rules.Mapping {
		rules = append(rules, append(ifaceIs(unix.NFT_META_OIFNAME, n.rules.WAN), natFromMap(nftPins, 12, 0, unix.NFT_NAT_SNAT)...))
	}
	if n.rules.Hairpin {
		for _, r := range n.hairpinned() {
			rules = append(rules, append(r, natFromMap(nftPins, 12, 0, unix.NFT_NAT_SNAT)...))
		}
		for _, r := range n.hairpinned() {
			rules = append(rules, append(r, publicOfTarget()...))
		}
	}
	return rules
}

// hairpinned matches DNATed packets to a LAN interface whose flow began at
// a LAN source: hairpinned ones. It asks conntrack where the flow came
// from rather than the input interface: under bridge netfilter a packet
// hairpinned between two ports of one bridge is bridged, and postrouting
// sees no input interface. A port forward's packets come from the
// internet and stay as they are.
func (n *NFT) hairpinned() [][]rawExpr {
	var out [][]rawExpr
	for _, o := range n.rules.LAN {
		for _, src := range n.rules.Sources {
			r := append(ifaceIs(unix.NFT_META_OIFNAME, o), ctStatusDNAT()...)
			out = append(out, append(r, prefixIs(ctOriginal(nftCtSrcIP, regWide), src)...))
		}
	}
	return out
}

// publicOfTarget translates a hairpinned packet whose sender has no pin
// yet to the public address of its target (the address the sender
// aimed at) with a port the kernel picks: a new public mapping, which the
// agent then pins like any other. Without it the receiver would see the
// sender's private address, or drop the packet as a martian when sender
// and receiver are one host. The lookup in @pins with the packet's
// (DNATed) destination keeps the rule to natp2p's own hairpins.
func publicOfTarget() []rawExpr {
	return []rawExpr{
		metaLoad(unix.NFT_META_L4PROTO, reg32a),
		payload(unix.NFT_PAYLOAD_NETWORK_HEADER, 16, 4, reg32b),
		payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32c),
		mapLookup(nftPins, reg32a, reg32a),
		natTo(unix.NFT_NAT_SNAT, reg32a, 0),
	}
}

// learnRules are the learn chain's rules for protocol p: a new flow to
// the WAN, just translated by the router's NAT; and, with hairpinning, a
// new hairpinned flow whose sender had no pin, which publicOfTarget gave
// a new public mapping. Pinned at once, that sender's next flow to the
// internet keeps the mapping its LAN peer saw, rather than getting
// another from the router's NAT before the agent pins it.
func (n *NFT) learnRules(p conntrackmap.Proto) [][]rawExpr {
	wan := append(ifaceIs(unix.NFT_META_OIFNAME, n.rules.WAN),
		// Forwarded only: the router's own flows (iif 0) are no LAN
		// host's mapping, and the agent does not track them either.
		metaLoad(unix.NFT_META_IIF, regWide),
		compare(unix.NFT_CMP_NEQ, regWide, make([]byte, 4)))
	rules := [][]rawExpr{append(wan, n.learnRule(p, nil)...)}
	if n.rules.Hairpin {
		// No iif test: under bridge netfilter a hairpin within a bridge
		// reaches postrouting without one. The flow began at a LAN
		// source and natp2p's prerouting DNAT took it (its original
		// destination is a pinned public endpoint), so the source NAT was
		// natp2p's too: never a LAN-side masquerade's (NAT reflection of
		// a port forward), whose private source must not become a pin.
		natp2pDNAT := []rawExpr{
			metaLoad(unix.NFT_META_L4PROTO, reg32a),
			ctOriginal(nftCtDstIP, reg32b),
			ctOriginal(unix.NFT_CT_PROTO_DST, reg32c),
			inSet(nftRev, reg32a),
		}
		for _, h := range n.hairpinned() {
			rules = append(rules, append(append(h, ctStatusSNAT()...), n.learnRule(p, natp2pDNAT)...))
		}
	}
	return rules
}

// learnRule pins a new flow of protocol p that also matches also, its
// source translated, to the public endpoint it got (the packet's source
// now), unless that public endpoint is pinned already. Registers are laid
// out as nft lays them out (keys from register 1, data from register 2),
// so that nft lists the rule.
func (n *NFT) learnRule(p conntrackmap.Proto, also []rawExpr) []rawExpr {
	r := append([]rawExpr{},
		ctLoad(unix.NFT_CT_STATE, regWide),
		and(regWide, binary.NativeEndian.AppendUint32(nil, ctStateNew)),
		compare(unix.NFT_CMP_NEQ, regWide, make([]byte, 4)),
		metaLoad(unix.NFT_META_L4PROTO, regWide),
		compare(unix.NFT_CMP_EQ, regWide, []byte{byte(p)}))
	r = append(r, also...) // after the protocol match, where nft lists ct original proto-dst
	public := []rawExpr{   // l4proto . saddr . sport, as translated
		metaLoad(unix.NFT_META_L4PROTO, reg32a),
		payload(unix.NFT_PAYLOAD_NETWORK_HEADER, 12, 4, reg32b),
		payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, reg32c),
	}
	r = append(append(r, public...), notInSet(nftRev, reg32a))
	// pins: l4proto . ct original ip saddr . ct original proto-src : saddr . sport
	r = append(r,
		metaLoad(unix.NFT_META_L4PROTO, reg32a),
		ctOriginal(nftCtSrcIP, reg32b),
		ctOriginal(unix.NFT_CT_PROTO_SRC, reg32c),
		payload(unix.NFT_PAYLOAD_NETWORK_HEADER, 12, 4, reg32e),
		payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, reg32f),
		dynsetAdd(nftPins, reg32a, reg32e))
	// rev: l4proto . saddr . sport : ct original ip saddr . ct original proto-src
	r = append(append(r, public...),
		ctOriginal(nftCtSrcIP, reg32e),
		ctOriginal(unix.NFT_CT_PROTO_SRC, reg32f),
		dynsetAdd(nftRev, reg32a, reg32e))
	return r
}

// preRules: the hairpin DNAT of pinned public endpoints, for packets that
// arrive on a LAN interface from a LAN source; nothing else is ever
// DNATed, so inbound filtering stays as the router has it.
func (n *NFT) preRules() [][]rawExpr {
	var rules [][]rawExpr
	for _, lan := range n.rules.LAN {
		for _, src := range n.rules.Sources {
			r := append(ifaceIs(unix.NFT_META_IIFNAME, lan), prefixIs(payload(unix.NFT_PAYLOAD_NETWORK_HEADER, 12, 4, regWide), src)...)
			rules = append(rules, append(r, natFromMap(nftRev, 16, 2, unix.NFT_NAT_DNAT)...))
		}
	}
	return rules
}

// natFromMap: meta l4proto . ip (saddr|daddr) . th (sport|dport) looked up
// in the map, the result as the NAT's address and port.
func natFromMap(set string, addrOff, portOff, typ uint32) []rawExpr {
	return []rawExpr{
		metaLoad(unix.NFT_META_L4PROTO, reg32a),
		payload(unix.NFT_PAYLOAD_NETWORK_HEADER, addrOff, 4, reg32b),
		payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, portOff, 2, reg32c),
		mapLookup(set, reg32a, reg32a),
		natTo(typ, reg32a, reg32b),
	}
}

func ifaceIs(key uint32, name string) []rawExpr {
	b := make([]byte, ifNameSize)
	copy(b, name)
	return []rawExpr{metaLoad(key, regWide), compare(unix.NFT_CMP_EQ, regWide, b)}
}

// prefixIs matches when the address load puts in regWide is in p.
func prefixIs(load rawExpr, p netip.Prefix) []rawExpr {
	out := []rawExpr{load}
	if p.Bits() < 32 {
		out = append(out, and(regWide, net.CIDRMask(p.Bits(), 32)))
	}
	return append(out, compare(unix.NFT_CMP_EQ, regWide, p.Masked().Addr().AsSlice()))
}

func ctStatusDNAT() []rawExpr { return ctStatusHas(ipsDstNAT) }

// ctStatusSNAT: the flow's source was translated (a hairpinned flow's
// SNAT matched; without it the source is still the sender's private one).
func ctStatusSNAT() []rawExpr { return ctStatusHas(ipsSrcNAT) }

func ctStatusHas(bit uint32) []rawExpr {
	return []rawExpr{
		ctLoad(unix.NFT_CT_STATUS, regWide),
		and(regWide, binary.NativeEndian.AppendUint32(nil, bit)),
		compare(unix.NFT_CMP_NEQ, regWide, make([]byte, 4)),
	}
}
