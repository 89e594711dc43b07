//go:build linux

package enforce

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The nf_tables messages the backend needs, encoded here: a table, its
// base chains, two concatenated maps and their elements, rules of
// expressions (nftexpr_linux.go, checked against google/nftables' expr
// package); nftconn_linux.go sends them, and four listings.
// google/nftables' Conn does the same for every object nf_tables has, and
// with its decoders cost the router's binary about 60 KB.

// nftMsgType is a nf_tables message type as netlink carries it.
func nftMsgType(t int) netlink.HeaderType {
	return netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | t)
}

// nftBatch is one nf_tables transaction: the kernel applies all of its
// messages or none.
type nftBatch struct {
	msgs []netlink.Message
	err  error // the first encoding error
}

// maxAttr is the most data a netlink attribute's 16-bit length holds.
const maxAttr = 0xffff - 4

// add appends a message on a family ip object.
func (b *nftBatch) add(t int, flags netlink.HeaderFlags, attrs []netlink.Attribute) {
	data, err := netlink.MarshalAttributes(attrs)
	for _, a := range attrs {
		if len(a.Data) > maxAttr {
			err = fmt.Errorf("nf_tables message %d: attribute %d of %d bytes", t, a.Type&^unix.NLA_F_NESTED, len(a.Data))
		}
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	b.msgs = append(b.msgs, netlink.Message{
		Header: netlink.Header{Type: nftMsgType(t), Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   append(nfgenmsg(unix.NFPROTO_IPV4, 0), data...),
	})
}

func cstr(s string) []byte { return append([]byte(s), 0) }

// nested marshals attributes into a nested attribute of type t.
func nested(t uint16, attrs []netlink.Attribute) netlink.Attribute {
	data, _ := netlink.MarshalAttributes(attrs) // fails only on oversized data
	return netlink.Attribute{Type: unix.NLA_F_NESTED | t, Data: data}
}

// addTable adds a table, or nothing when it exists.
func (b *nftBatch) addTable(name string) {
	b.add(unix.NFT_MSG_NEWTABLE, netlink.Create, []netlink.Attribute{{Type: unix.NFTA_TABLE_NAME, Data: cstr(name)}})
}

func (b *nftBatch) delTable(name string) {
	b.add(unix.NFT_MSG_DELTABLE, 0, []netlink.Attribute{{Type: unix.NFTA_TABLE_NAME, Data: cstr(name)}})
}

// addChain adds a base chain of type typ ("nat", "filter") on hook at
// priority prio.
func (b *nftBatch) addChain(table, name, typ string, hook uint32, prio int32) {
	b.add(unix.NFT_MSG_NEWCHAIN, netlink.Create, []netlink.Attribute{
		{Type: unix.NFTA_CHAIN_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_CHAIN_NAME, Data: cstr(name)},
		nested(unix.NFTA_CHAIN_HOOK, []netlink.Attribute{
			{Type: unix.NFTA_HOOK_HOOKNUM, Data: be32(hook)},
			{Type: unix.NFTA_HOOK_PRIORITY, Data: be32(uint32(prio))},
		}),
		{Type: unix.NFTA_CHAIN_TYPE, Data: cstr(typ)},
	})
}

// Set data types (nftables' datatype ids) and the concatenation's shift.
const (
	nftTypeIPAddr      = 7
	nftTypeInetProto   = 12
	nftTypeInetService = 13
	nftConcatBits      = 6
)

// concatType is the type id of a concatenation of the types and each
// field's length in bytes (padded to 4 in the key).
func concatType(types ...uint32) uint32 {
	var t uint32
	for _, x := range types {
		t = t<<nftConcatBits | x
	}
	return t
}

// addPinMap adds a dynamic map "inet_proto . ipv4_addr . inet_service :
// ipv4_addr . inet_service" of at most size elements: the pins' and rev's
// type. id names it within the batch. Flags and description are what nft
// sends for such a map: no NFT_SET_CONCAT, which kernels before 5.6 refuse
// and which only interval maps need.
func (b *nftBatch) addPinMap(table, name string, id, size uint32) {
	b.add(unix.NFT_MSG_NEWSET, netlink.Create, []netlink.Attribute{
		{Type: unix.NFTA_SET_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_SET_NAME, Data: cstr(name)},
		{Type: unix.NFTA_SET_FLAGS, Data: be32(unix.NFT_SET_MAP | unix.NFT_SET_EVAL)},
		{Type: unix.NFTA_SET_KEY_TYPE, Data: be32(concatType(nftTypeInetProto, nftTypeIPAddr, nftTypeInetService))},
		{Type: unix.NFTA_SET_KEY_LEN, Data: be32(12)},
		{Type: unix.NFTA_SET_ID, Data: be32(id)},
		{Type: unix.NFTA_SET_DATA_TYPE, Data: be32(concatType(nftTypeIPAddr, nftTypeInetService))},
		{Type: unix.NFTA_SET_DATA_LEN, Data: be32(8)},
		nested(unix.NFTA_SET_DESC, []netlink.Attribute{{Type: unix.NFTA_SET_DESC_SIZE, Data: be32(size)}}),
	})
}

// nftElem is a map element: its key and, when adding, its data.
type nftElem struct{ key, val []byte }

// elements adds (unix.NFT_MSG_NEWSETELEM) or deletes (DELSETELEM) elements
// of a map, nftChunk to a message: an attribute holds at most 64 KiB.
func (b *nftBatch) elements(op int, table, set string, els []nftElem) {
	for len(els) > nftChunk {
		b.elements(op, table, set, els[:nftChunk])
		els = els[nftChunk:]
	}
	if len(els) == 0 {
		return
	}
	list := make([]netlink.Attribute, len(els))
	for i, e := range els {
		item := []netlink.Attribute{nested(unix.NFTA_SET_ELEM_KEY, []netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.key}})}
		if len(e.val) > 0 {
			item = append(item, nested(unix.NFTA_SET_ELEM_DATA, []netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.val}}))
		}
		list[i] = nested(unix.NFTA_LIST_ELEM, item)
	}
	b.add(op, netlink.Create, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstr(set)},
		nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, list),
	})
}

// addRule appends a rule of encoded expressions to a chain.
func (b *nftBatch) addRule(table, chain string, r []rawExpr) {
	elems := make([]netlink.Attribute, len(r))
	for i, e := range r {
		elems[i] = netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: e}
	}
	b.add(unix.NFT_MSG_NEWRULE, netlink.Create|unix.NLM_F_APPEND, []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_RULE_CHAIN, Data: cstr(chain)},
		nested(unix.NFTA_RULE_EXPRESSIONS, elems),
	})
}

func batchMsg(t int) netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(t), Flags: netlink.Request},
		Data: nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)}
}

// nfgenmsg is struct nfgenmsg: family, version, resource id.
func nfgenmsg(family uint8, resID uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{family, unix.NFNETLINK_V0}, resID)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
