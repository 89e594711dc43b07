//go:build linux

package enforce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

// NFTTable is natp2p's nftables table (family ip). Nothing else of the
// ruleset is ever touched; fw4's reload and restart leave it alone.
const NFTTable = "natp2p"

// The table's maps and chains.
const (
	nftPins        = "pins"        // l4proto . private ip . port : public ip . port
	nftRev         = "rev"         // l4proto . public ip . port : private ip . port
	nftPostrouting = "postrouting" // SNAT from pins, just before the router's masquerade
	nftPrerouting  = "prerouting"  // hairpin DNAT, just before the router's port forwards
	nftLearn       = "learn"       // pins each new endpoint from its first packet, just after the router's NAT
)

// nftChunk bounds the set elements of one message (about 40 KB: an
// attribute holds 64 KiB).
const nftChunk = 1024

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

// nftMapSize bounds each map: two protocols times every port of a public
// address, and then some.
const nftMapSize = 1 << 17

// ipsDstNAT is IPS_DST_NAT of ct status.
const ipsDstNAT = 0x20

// NFT is the nftables backend: one table of natp2p's own in family ip with
//
//	map pins { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service }
//	map rev  { same types; public -> private }
//	chain postrouting { type nat hook postrouting priority srcnat - 1
//	    oifname WAN snat ip to meta l4proto . ip saddr . th sport map @pins
//	    iifname LAN oifname LAN ct status dnat snat ip to meta l4proto . ip saddr . th sport map @pins
//	    iifname LAN oifname LAN ct status dnat snat ip to (address of) meta l4proto . ip daddr . th dport map @pins }
//	chain prerouting { type nat hook prerouting priority dstnat - 1
//	    iifname LAN dnat ip to meta l4proto . ip daddr . th dport map @rev }
//	chain learn { type filter hook postrouting priority srcnat + 1
//	    oifname WAN iif != 0 ct state new meta l4proto udp meta l4proto . ip saddr . udp sport != @rev
//	        add @pins { meta l4proto . ct original ip saddr . ct original proto-src : ip saddr . udp sport }
//	        add @rev { meta l4proto . ip saddr . udp sport : ct original ip saddr . ct original proto-src }
//	    the same for tcp }
//
// The learn chain runs right after the router's NAT translated a new
// flow's first packet: it pins the private endpoint to the public endpoint
// the NAT chose, in the kernel, before the packet leaves, unless another
// endpoint holds that public endpoint. So no second flow can race a pin
// into the kernel (the agent sees every pin in the conntrack events too,
// and takes care of quotas, reserved ports and expiry). It has one rule
// per protocol because nft lists ct original proto-src only after a
// protocol match.
//
// A flow whose endpoint has no pin misses the lookup and falls through to
// the router's own NAT. One lookup per new flow, whatever the number of
// pins.
type NFT struct {
	rules Rules
}

// NewNFT returns the nftables backend. It opens nothing yet.
func NewNFT(r Rules) (*NFT, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &NFT{rules: r}, nil
}

// Name implements Backend.
func (n *NFT) Name() string { return NameNftables }

// LearnsPins reports that the learn chain pins new endpoints in the
// kernel: with mapping enforcement only, as learned pins serve the SNAT.
func (n *NFT) LearnsPins() bool { return n.rules.Mapping }

// Install implements Backend. The table is deleted and made anew in the
// same transaction as the maps, the rules and the first pins, so there is
// no instant without rules and never a duplicate; the pins that do not fit
// it follow in further transactions (nftBatch.commit), then the learn
// rules. A failure part-way leaves rules that look installed: the Enforcer
// then installs again.
func (n *NFT) Install(pins []Pin) error {
	var b nftBatch
	b.addTable(NFTTable) // "add" makes the delete below succeed when the table is absent
	b.delTable(NFTTable)
	b.addTable(NFTTable)
	// Dynamic maps: the learn chain adds to them from the packet path.
	b.addPinMap(NFTTable, nftPins, 1, nftMapSize)
	b.addPinMap(NFTTable, nftRev, 2, nftMapSize)
	n.addChains(&b)
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(pins))
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftRev, revElements(pins))
	if err := b.commit(); err != nil {
		return nftError("install", err)
	}
	// Learning starts last: learned during the transactions above, a pin
	// could clash with one of the agent's still to come.
	if !n.rules.Mapping {
		return nil
	}
	return nftError("install", n.addLearnRules())
}

// addLearnRules fills the learn chain, one rule per protocol (nft lists
// ct original proto-src only after a protocol match).
func (n *NFT) addLearnRules() error {
	var b nftBatch
	for _, p := range []conntrackmap.Proto{conntrackmap.UDP, conntrackmap.TCP} {
		b.addRule(NFTTable, nftLearn, n.learnRule(p))
	}
	return b.commit()
}

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
		for _, r := range n.lanToLAN() {
			rules = append(rules, append(r, natFromMap(nftPins, 12, 0, unix.NFT_NAT_SNAT)...))
		}
		for _, r := range n.lanToLAN() {
			rules = append(rules, append(r, publicOfTarget()...))
		}
	}
	return rules
}

// lanToLAN matches DNATed packets from a LAN interface to a LAN interface:
// hairpinned ones. A port forward's packets come in from the WAN and stay
// as they are.
func (n *NFT) lanToLAN() [][]rawExpr {
	var out [][]rawExpr
	for _, in := range n.rules.LAN {
		for _, o := range n.rules.LAN {
			r := append(ifaceIs(unix.NFT_META_IIFNAME, in), ifaceIs(unix.NFT_META_OIFNAME, o)...)
			out = append(out, append(r, ctStatusDNAT()...))
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

// learnRule pins a new flow of protocol p, just translated by the router's
// NAT, to the public endpoint it got (the packet's source now), unless
// that public endpoint is pinned already. Registers are laid out as nft
// lays them out (keys from register 1, data from register 2), so that
// nft lists the rule.
func (n *NFT) learnRule(p conntrackmap.Proto) []rawExpr {
	r := append(ifaceIs(unix.NFT_META_OIFNAME, n.rules.WAN),
		// Forwarded only: the router's own flows (iif 0) are no LAN
		// host's mapping, and the agent does not track them either.
		metaLoad(unix.NFT_META_IIF, regWide),
		compare(unix.NFT_CMP_NEQ, regWide, make([]byte, 4)),
		ctLoad(unix.NFT_CT_STATE, regWide),
		and(regWide, binary.NativeEndian.AppendUint32(nil, ctStateNew)),
		compare(unix.NFT_CMP_NEQ, regWide, make([]byte, 4)),
		metaLoad(unix.NFT_META_L4PROTO, regWide),
		compare(unix.NFT_CMP_EQ, regWide, []byte{byte(p)}))
	public := []rawExpr{ // l4proto . saddr . sport, as translated
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

// preRules: the hairpin DNAT of pinned public endpoints on LAN input.
func (n *NFT) preRules() [][]rawExpr {
	var rules [][]rawExpr
	for _, lan := range n.rules.LAN {
		rules = append(rules, append(ifaceIs(unix.NFT_META_IIFNAME, lan), natFromMap(nftRev, 16, 2, unix.NFT_NAT_DNAT)...))
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

func ctStatusDNAT() []rawExpr {
	return []rawExpr{
		ctLoad(unix.NFT_CT_STATUS, regWide),
		and(regWide, binary.NativeEndian.AppendUint32(nil, ipsDstNAT)),
		compare(unix.NFT_CMP_NEQ, regWide, make([]byte, 4)),
	}
}

// Update implements Backend, in one batch: deletions first, so that a pin
// can move in one call.
func (n *NFT) Update(add, del []Pin) error {
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	var b nftBatch
	b.elements(unix.NFT_MSG_DELSETELEM, NFTTable, nftPins, pinKeys(del))
	b.elements(unix.NFT_MSG_DELSETELEM, NFTTable, nftRev, revKeys(del))
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(add))
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftRev, revElements(add))
	return nftError("update", b.commit())
}

// Installed implements Backend: the table is there with every rule.
func (n *NFT) Installed() (bool, error) {
	if ok, err := n.exists(); !ok || err != nil {
		return false, err
	}
	// The learn chain's rules are not counted: the chain must exist; its
	// rules go only with the table.
	if ok, err := nftChainExists(NFTTable, nftLearn); n.rules.Mapping && (!ok || err != nil) {
		return false, nil
	}
	chains := map[string]int{nftPostrouting: len(n.postRules())}
	if n.rules.Hairpin {
		chains[nftPrerouting] = len(n.preRules())
	}
	for name, want := range chains {
		got, err := nftCountRules(NFTTable, name)
		if err != nil || got != want { // a chain is missing, or the table went meanwhile
			return false, nil
		}
	}
	return true, nil
}

// Pins implements Backend.
func (n *NFT) Pins() ([]Pin, error) {
	if ok, err := n.exists(); !ok || err != nil {
		return nil, err
	}
	els, err := nftElements(NFTTable, nftPins)
	if err != nil {
		return nil, nftError("list", err)
	}
	pins := make([]Pin, 0, len(els))
	for _, e := range els {
		if p, ok := pinFromElement(e); ok {
			pins = append(pins, p)
		}
	}
	sortPins(pins)
	return pins, nil
}

// Remove implements Backend.
func (n *NFT) Remove() error {
	var b nftBatch
	b.addTable(NFTTable)
	b.delTable(NFTTable)
	return nftError("remove", b.commit())
}

// The element layout: each field padded to 4 bytes, ports big-endian.
func keyBytes(p conntrackmap.Proto, ep netip.AddrPort) []byte {
	b := make([]byte, 12)
	b[0] = byte(p)
	a := ep.Addr().As4()
	copy(b[4:8], a[:])
	binary.BigEndian.PutUint16(b[8:10], ep.Port())
	return b
}

func dataBytes(ep netip.AddrPort) []byte { return keyBytes(0, ep)[4:] }

func pinElements(pins []Pin) []nftElem {
	els := make([]nftElem, len(pins))
	for i, p := range pins {
		els[i] = nftElem{keyBytes(p.Proto, p.Private), dataBytes(p.Public)}
	}
	return els
}

func revElements(pins []Pin) []nftElem {
	els := make([]nftElem, len(pins))
	for i, p := range pins {
		els[i] = nftElem{keyBytes(p.Proto, p.Public), dataBytes(p.Private)}
	}
	return els
}

func pinKeys(pins []Pin) []nftElem {
	els := pinElements(pins)
	for i := range els {
		els[i].val = nil
	}
	return els
}

func revKeys(pins []Pin) []nftElem {
	els := revElements(pins)
	for i := range els {
		els[i].val = nil
	}
	return els
}

func pinFromElement(e nftElem) (Pin, bool) {
	if len(e.key) != 12 || len(e.val) != 8 {
		return Pin{}, false
	}
	p := Pin{
		Proto:   conntrackmap.Proto(e.key[0]),
		Private: netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.key[4:8])), binary.BigEndian.Uint16(e.key[8:10])),
		Public:  netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.val[0:4])), binary.BigEndian.Uint16(e.val[4:6])),
	}
	return p, p.valid()
}

// exists reports whether the table is there.
func (n *NFT) exists() (bool, error) {
	tables, err := NFTTables(unix.NFPROTO_IPV4)
	return slices.Contains(tables, NFTTable), err
}

// nftError names the operation and turns the common netlink errors into
// advice.
func nftError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EPERM) || errors.Is(err, os.ErrPermission):
		return fmt.Errorf("nftables %s: permission denied (run as root)", op)
	case errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("nftables %s: the kernel has no nf_tables (load nf_tables, or use --backend iptables)", op)
	}
	return fmt.Errorf("nftables %s: %w", op, err)
}
