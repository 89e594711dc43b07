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

	"github.com/google/nftables/expr"
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

// nftChunk bounds the set elements of one netlink batch: a batch is one
// sendmsg, which the socket's send buffer (about 200 KiB) limits.
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
// same batch as the rules and the first pins, so there is no instant
// without rules and never a duplicate; more pins follow in batches of
// nftChunk, then the learn rules. A failure part-way leaves rules that
// look installed: the Enforcer then installs again.
func (n *NFT) Install(pins []Pin) error {
	var b nftBatch
	b.addTable(NFTTable) // "add" makes the delete below succeed when the table is absent
	b.delTable(NFTTable)
	b.addTable(NFTTable)
	first, rest := splitPins(pins, nftChunk)
	// Dynamic maps: the learn chain adds to them from the packet path.
	b.addPinMap(NFTTable, nftPins, 1, nftMapSize)
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(first))
	b.addPinMap(NFTTable, nftRev, 2, nftMapSize)
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftRev, revElements(first))
	if err := n.addChains(&b); err != nil {
		return nftError("install", err)
	}
	if err := b.commit(); err != nil {
		return nftError("install", err)
	}
	for len(rest) > 0 {
		var chunk []Pin
		chunk, rest = splitPins(rest, nftChunk)
		if err := n.Update(chunk, nil); err != nil {
			return err
		}
	}
	// Learning starts last: learned during the batches above, a pin could
	// clash with one of the agent's still to come.
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
		r, err := n.learnRule(p)
		if err != nil {
			return err
		}
		b.addRule(NFTTable, nftLearn, r)
	}
	return b.commit()
}

func splitPins(pins []Pin, n int) (head, tail []Pin) {
	if len(pins) <= n {
		return pins, nil
	}
	return pins[:n], pins[n:]
}

// NAT chain priorities (nft's srcnat and dstnat) and hooks.
const (
	prioSrcNAT = 100
	prioDstNAT = -100
)

// addChains adds the chains and their rules, the learn chain empty.
func (n *NFT) addChains(b *nftBatch) error {
	b.addChain(NFTTable, nftPostrouting, "nat", unix.NF_INET_POST_ROUTING, prioSrcNAT-1)
	if err := addRules(b, nftPostrouting, n.postRules()); err != nil {
		return err
	}
	if n.rules.Mapping {
		b.addChain(NFTTable, nftLearn, "filter", unix.NF_INET_POST_ROUTING, prioSrcNAT+1)
	}
	if !n.rules.Hairpin {
		return nil
	}
	b.addChain(NFTTable, nftPrerouting, "nat", unix.NF_INET_PRE_ROUTING, prioDstNAT-1)
	return addRules(b, nftPrerouting, n.preRules())
}

func addRules(b *nftBatch, chain string, rules [][]expr.Any) error {
	for _, r := range rules {
		enc, err := encode(nftFamily, r...)
		if err != nil {
			return err
		}
		b.addRule(NFTTable, chain, enc)
	}
	return nil
}

// nftFamily is the table's family, as expressions are encoded for it.
const nftFamily = unix.NFPROTO_IPV4

// postRules: the SNAT to the pin on WAN output, and, for hairpinning, on
// LAN output of packets the prerouting DNAT redirected.
func (n *NFT) postRules() [][]expr.Any {
	var rules [][]expr.Any
	if n.rules.Mapping {
		rules = append(rules, append(ifaceIs(expr.MetaKeyOIFNAME, n.rules.WAN), n.natFromMap(nftPins, 12, 0, expr.NATTypeSourceNAT)...))
	}
	if n.rules.Hairpin {
		for _, r := range n.lanToLAN() {
			rules = append(rules, append(r, n.natFromMap(nftPins, 12, 0, expr.NATTypeSourceNAT)...))
		}
		for _, r := range n.lanToLAN() {
			rules = append(rules, append(r, n.publicOfTarget()...))
		}
	}
	return rules
}

// lanToLAN matches DNATed packets from a LAN interface to a LAN interface:
// hairpinned ones. A port forward's packets come in from the WAN and stay
// as they are.
func (n *NFT) lanToLAN() [][]expr.Any {
	var out [][]expr.Any
	for _, in := range n.rules.LAN {
		for _, o := range n.rules.LAN {
			r := append(ifaceIs(expr.MetaKeyIIFNAME, in), ifaceIs(expr.MetaKeyOIFNAME, o)...)
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
func (n *NFT) publicOfTarget() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32a},
		&expr.Payload{Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4, DestRegister: reg32b},
		&expr.Payload{Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2, DestRegister: reg32c},
		&expr.Lookup{SourceRegister: reg32a, SetName: nftPins, DestRegister: reg32a, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg32a},
	}
}

// learnRule pins a new flow of protocol p, just translated by the router's
// NAT, to the public endpoint it got (the packet's source now), unless
// that public endpoint is pinned already. Registers are laid out as nft
// lays them out (keys from register 1, data from register 2), so that
// nft lists the rule.
func (n *NFT) learnRule(p conntrackmap.Proto) ([]rawExpr, error) {
	const fam = nftFamily
	head := append(ifaceIs(expr.MetaKeyOIFNAME, n.rules.WAN),
		// Forwarded only: the router's own flows (iif 0) are no LAN
		// host's mapping, and the agent does not track them either.
		&expr.Meta{Key: expr.MetaKeyIIF, Register: regWide},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regWide, Data: make([]byte, 4)},
		&expr.Ct{Key: expr.CtKeySTATE, Register: regWide},
		&expr.Bitwise{SourceRegister: regWide, DestRegister: regWide, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, ctStateNew), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regWide, Data: make([]byte, 4)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regWide},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regWide, Data: []byte{byte(p)}})
	public := []expr.Any{ // l4proto . saddr . sport, as translated
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32a},
		&expr.Payload{Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4, DestRegister: reg32b},
		&expr.Payload{Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2, DestRegister: reg32c},
	}
	var parts [][]expr.Any
	parts = append(parts, head, public,
		[]expr.Any{&expr.Lookup{SourceRegister: reg32a, SetName: nftRev, Invert: true}},
		[]expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32a}}) // pins' key: l4proto .
	var out []rawExpr
	for _, part := range parts {
		enc, err := encode(fam, part...)
		if err != nil {
			return nil, err
		}
		out = append(out, enc...)
	}
	// ... ct original ip saddr . ct original proto-src : saddr . sport
	ctSrc, err := ctOriginalSrcIP(reg32b)
	if err != nil {
		return nil, err
	}
	pinsTail, err := encode(fam,
		&expr.Ct{Key: expr.CtKeyPROTOSRC, Direction: 0, Register: reg32c},
		&expr.Payload{Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4, DestRegister: reg32e},
		&expr.Payload{Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2, DestRegister: reg32f},
		&expr.Dynset{SrcRegKey: reg32a, SrcRegData: reg32e, SetName: nftPins, Operation: unix.NFT_DYNSET_OP_ADD})
	if err != nil {
		return nil, err
	}
	out = append(append(out, ctSrc), pinsTail...)
	// rev: l4proto . saddr . sport : ct original ip saddr . ct original proto-src
	revKey, err := encode(fam, public...)
	if err != nil {
		return nil, err
	}
	ctSrc2, err := ctOriginalSrcIP(reg32e)
	if err != nil {
		return nil, err
	}
	revTail, err := encode(fam,
		&expr.Ct{Key: expr.CtKeyPROTOSRC, Direction: 0, Register: reg32f},
		&expr.Dynset{SrcRegKey: reg32a, SrcRegData: reg32e, SetName: nftRev, Operation: unix.NFT_DYNSET_OP_ADD})
	if err != nil {
		return nil, err
	}
	return append(append(append(out, revKey...), ctSrc2), revTail...), nil
}

// preRules: the hairpin DNAT of pinned public endpoints on LAN input.
func (n *NFT) preRules() [][]expr.Any {
	var rules [][]expr.Any
	for _, lan := range n.rules.LAN {
		rules = append(rules, append(ifaceIs(expr.MetaKeyIIFNAME, lan), n.natFromMap(nftRev, 16, 2, expr.NATTypeDestNAT)...))
	}
	return rules
}

// natFromMap: meta l4proto . ip (saddr|daddr) . th (sport|dport) looked up
// in the map, the result as the NAT's address and port.
func (n *NFT) natFromMap(set string, addrOff, portOff uint32, typ expr.NATType) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32a},
		&expr.Payload{Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: 4, DestRegister: reg32b},
		&expr.Payload{Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2, DestRegister: reg32c},
		&expr.Lookup{SourceRegister: reg32a, SetName: set, DestRegister: reg32a, IsDestRegSet: true},
		&expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: reg32a, RegProtoMin: reg32b, Specified: true},
	}
}

func ifaceIs(key expr.MetaKey, name string) []expr.Any {
	b := make([]byte, ifNameSize)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: regWide},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regWide, Data: b},
	}
}

func ctStatusDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: regWide},
		&expr.Bitwise{SourceRegister: regWide, DestRegister: regWide, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regWide, Data: make([]byte, 4)},
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
