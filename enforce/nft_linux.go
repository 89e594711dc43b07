//go:build linux

package enforce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
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
	regWide = 1 // NFT_REG_1, for interface names and ct status
)

// ipsDstNAT is IPS_DST_NAT of ct status.
const ipsDstNAT = 0x20

var (
	nftKeyType  = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeIPAddr, nftables.TypeInetService)
	nftDataType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
)

// NFT is the nftables backend: one table of natp2p's own in family ip with
//
//	map pins { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service }
//	map rev  { same types; public -> private }
//	chain postrouting { type nat hook postrouting priority srcnat - 1
//	    oifname WAN snat ip to meta l4proto . ip saddr . th sport map @pins
//	    oifname LAN ct status dnat snat ip to meta l4proto . ip saddr . th sport map @pins }
//	chain prerouting { type nat hook prerouting priority dstnat - 1
//	    iifname LAN dnat ip to meta l4proto . ip daddr . th dport map @rev }
//
// A flow whose endpoint has no pin misses the lookup and falls through to
// the router's own NAT. One lookup per new flow, whatever the number of
// pins.
type NFT struct {
	rules Rules
	table *nftables.Table
	pins  *nftables.Set
	rev   *nftables.Set
}

// NewNFT returns the nftables backend. It opens nothing yet.
func NewNFT(r Rules) (*NFT, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: NFTTable}
	return &NFT{rules: r, table: t,
		pins: &nftables.Set{Table: t, Name: nftPins, IsMap: true, Concatenation: true, KeyType: nftKeyType, DataType: nftDataType},
		rev:  &nftables.Set{Table: t, Name: nftRev, IsMap: true, Concatenation: true, KeyType: nftKeyType, DataType: nftDataType},
	}, nil
}

// Name implements Backend.
func (n *NFT) Name() string { return NameNftables }

// Install implements Backend. The table is deleted and made anew in the
// same batch as the rules and the first pins, so there is no instant
// without rules and never a duplicate; more pins follow in batches of
// nftChunk.
func (n *NFT) Install(pins []Pin) error {
	c, err := nftables.New()
	if err != nil {
		return nftError("install", err)
	}
	c.AddTable(n.table) // "add" makes the delete below succeed when the table is absent
	c.DelTable(n.table)
	c.AddTable(n.table)
	first, rest := splitPins(pins, nftChunk)
	if err := c.AddSet(n.pins, pinElements(first)); err != nil {
		return nftError("install", err)
	}
	if err := c.AddSet(n.rev, revElements(first)); err != nil {
		return nftError("install", err)
	}
	n.addChains(c)
	if err := c.Flush(); err != nil {
		return nftError("install", err)
	}
	for len(rest) > 0 {
		var chunk []Pin
		chunk, rest = splitPins(rest, nftChunk)
		if err := n.Update(chunk, nil); err != nil {
			return err
		}
	}
	return nil
}

func splitPins(pins []Pin, n int) (head, tail []Pin) {
	if len(pins) <= n {
		return pins, nil
	}
	return pins[:n], pins[n:]
}

func (n *NFT) addChains(c *nftables.Conn) {
	post := c.AddChain(&nftables.Chain{Table: n.table, Name: nftPostrouting, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATSource - 1)})
	for _, r := range n.postRules() {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: post, Exprs: r})
	}
	if !n.rules.Hairpin {
		return
	}
	pre := c.AddChain(&nftables.Chain{Table: n.table, Name: nftPrerouting, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest - 1)})
	for _, r := range n.preRules() {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: pre, Exprs: r})
	}
}

// postRules: the SNAT to the pin on WAN output, and, for hairpinning, on
// LAN output of packets the prerouting DNAT redirected.
func (n *NFT) postRules() [][]expr.Any {
	var rules [][]expr.Any
	if n.rules.Mapping {
		rules = append(rules, append(ifaceIs(expr.MetaKeyOIFNAME, n.rules.WAN), n.natFromMap(nftPins, 12, 0, expr.NATTypeSourceNAT)...))
	}
	if n.rules.Hairpin {
		for _, lan := range n.rules.LAN {
			r := append(ifaceIs(expr.MetaKeyOIFNAME, lan), ctStatusDNAT()...)
			rules = append(rules, append(r, n.natFromMap(nftPins, 12, 0, expr.NATTypeSourceNAT)...))
		}
	}
	return rules
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
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regWide, Data: make([]byte, 4)},
	}
}

// Update implements Backend, in one batch: deletions first, so that a pin
// can move in one call.
func (n *NFT) Update(add, del []Pin) error {
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return nftError("update", err)
	}
	if len(del) > 0 {
		if err := c.SetDeleteElements(n.pins, pinKeys(del)); err != nil {
			return nftError("update", err)
		}
		if err := c.SetDeleteElements(n.rev, revKeys(del)); err != nil {
			return nftError("update", err)
		}
	}
	if len(add) > 0 {
		if err := c.SetAddElements(n.pins, pinElements(add)); err != nil {
			return nftError("update", err)
		}
		if err := c.SetAddElements(n.rev, revElements(add)); err != nil {
			return nftError("update", err)
		}
	}
	return nftError("update", c.Flush())
}

// Installed implements Backend: the table is there with every rule.
func (n *NFT) Installed() (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, nftError("list", err)
	}
	if ok, err := n.exists(c); !ok || err != nil {
		return false, err
	}
	chains := map[string]int{nftPostrouting: len(n.postRules())}
	if n.rules.Hairpin {
		chains[nftPrerouting] = len(n.preRules())
	}
	for name, want := range chains {
		rules, err := c.GetRules(n.table, &nftables.Chain{Table: n.table, Name: name})
		if err != nil { // the chain is missing, or the table went in the meantime
			return false, nftError("list", err)
		}
		if len(rules) != want {
			return false, nil
		}
	}
	return true, nil
}

// Pins implements Backend.
func (n *NFT) Pins() ([]Pin, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, nftError("list", err)
	}
	if ok, err := n.exists(c); !ok || err != nil {
		return nil, err
	}
	els, err := c.GetSetElements(n.pins)
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
	c, err := nftables.New()
	if err != nil {
		return nftError("remove", err)
	}
	c.AddTable(n.table)
	c.DelTable(n.table)
	return nftError("remove", c.Flush())
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

func pinElements(pins []Pin) []nftables.SetElement {
	els := make([]nftables.SetElement, len(pins))
	for i, p := range pins {
		els[i] = nftables.SetElement{Key: keyBytes(p.Proto, p.Private), Val: dataBytes(p.Public)}
	}
	return els
}

func revElements(pins []Pin) []nftables.SetElement {
	els := make([]nftables.SetElement, len(pins))
	for i, p := range pins {
		els[i] = nftables.SetElement{Key: keyBytes(p.Proto, p.Public), Val: dataBytes(p.Private)}
	}
	return els
}

func pinKeys(pins []Pin) []nftables.SetElement {
	els := pinElements(pins)
	for i := range els {
		els[i].Val = nil
	}
	return els
}

func revKeys(pins []Pin) []nftables.SetElement {
	els := revElements(pins)
	for i := range els {
		els[i].Val = nil
	}
	return els
}

func pinFromElement(e nftables.SetElement) (Pin, bool) {
	if len(e.Key) != 12 || len(e.Val) != 8 {
		return Pin{}, false
	}
	p := Pin{
		Proto:   conntrackmap.Proto(e.Key[0]),
		Private: netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.Key[4:8])), binary.BigEndian.Uint16(e.Key[8:10])),
		Public:  netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.Val[0:4])), binary.BigEndian.Uint16(e.Val[4:6])),
	}
	return p, p.valid()
}

// exists reports whether the table is there. (google/nftables reports a
// missing table or chain as a formatted string, not as ENOENT.)
func (n *NFT) exists(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(n.table.Family)
	if err != nil {
		return false, nftError("list", err)
	}
	for _, t := range tables {
		if t.Name == n.table.Name {
			return true, nil
		}
	}
	return false, nil
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
