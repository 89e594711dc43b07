//go:build linux

package enforce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The nf_tables messages the backend needs, encoded here: a table, its
// base chains, two concatenated maps and their elements, rules of
// expressions encoded by google/nftables' expr package, and four
// listings. google/nftables' Conn does the same for every object nf_tables
// has, and with its decoders cost the router's binary about 60 KB.

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

// nftBatchBytes bounds the messages of one transaction: a transaction is
// one sendmsg, which the socket's send buffer (about 200 KiB by default)
// limits. A larger batch goes as several transactions, in order (Install's
// first holds the table, the maps, the rules and over a thousand pins).
const nftBatchBytes = 128 << 10

// nftTimeout bounds the wait for the kernel's answers.
const nftTimeout = 5 * time.Second

// commit sends the batch, as one transaction when it fits nftBatchBytes,
// and waits for the kernel's answers: the first error, if any.
func (b *nftBatch) commit() error {
	if b.err != nil || len(b.msgs) == 0 {
		return b.err
	}
	c, err := dialNFT()
	if err != nil {
		return err
	}
	defer c.Close()
	for start := 0; start < len(b.msgs); {
		end, size := start+1, len(b.msgs[start].Data)
		for end < len(b.msgs) && size+len(b.msgs[end].Data) <= nftBatchBytes {
			size += len(b.msgs[end].Data)
			end++
		}
		if err := transact(c, b.msgs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// dialNFT opens a netfilter netlink socket whose errors do not echo the
// request (NETLINK_CAP_ACK: a failed 60 KB element list would otherwise
// come back whole), with a deadline.
func dialNFT() (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, err
	}
	c.SetOption(netlink.CapAcknowledge, true) // best effort: older kernels echo
	if err := c.SetDeadline(time.Now().Add(nftTimeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// transact sends msgs as one transaction. Only the last asks for an
// acknowledgement: the kernel reports every failing message anyway, and
// one answer per message would overflow the receive buffer on a large
// batch (a batch that did apply would then look failed).
func transact(c *netlink.Conn, msgs []netlink.Message) error {
	out := make([]netlink.Message, 0, len(msgs)+2)
	out = append(out, batchMsg(unix.NFNL_MSG_BATCH_BEGIN))
	for _, m := range msgs {
		m.Header.Flags &^= netlink.Acknowledge
		out = append(out, m)
	}
	out[len(out)-1].Header.Flags |= netlink.Acknowledge
	out = append(out, batchMsg(unix.NFNL_MSG_BATCH_END))
	sent, err := c.SendMessages(out)
	if err != nil {
		return err
	}
	last := sent[len(sent)-2].Header.Sequence
	for {
		replies, err := c.Receive() // an error answer comes back as err
		if err != nil {
			return err
		}
		for _, r := range replies {
			if r.Header.Sequence == last {
				return nil
			}
		}
	}
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

// nftGet runs a get request (a dump when dump) on nf_tables and returns
// the answers' attributes.
func nftGet(t int, family uint8, dump bool, attrs []netlink.Attribute) ([][]byte, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	c, err := dialNFT()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	flags := netlink.Request
	if dump {
		flags |= netlink.Dump
	}
	msgs, err := c.Execute(netlink.Message{Header: netlink.Header{Type: nftMsgType(t), Flags: flags},
		Data: append(nfgenmsg(family, 0), data...)})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, m := range msgs {
		if len(m.Data) >= 4 {
			out = append(out, m.Data[4:]) // after nfgenmsg
		}
	}
	return out, nil
}

// NFTTables lists the nftables tables of a family (unix.NFPROTO_*; 0 for
// every family). An error means nf_tables cannot be asked (no module, no
// permission).
func NFTTables(family uint8) ([]string, error) {
	answers, err := nftGet(unix.NFT_MSG_GETTABLE, family, true, nil)
	if err != nil {
		return nil, nftError("list", err)
	}
	var names []string
	for _, a := range answers {
		ad, err := netlink.NewAttributeDecoder(a)
		if err != nil {
			return nil, nftError("list", err)
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_TABLE_NAME {
				names = append(names, ad.String())
			}
		}
	}
	return names, nil
}

// nftChainExists reports whether a chain of a family ip table exists.
func nftChainExists(table, chain string) (bool, error) {
	_, err := nftGet(unix.NFT_MSG_GETCHAIN, unix.NFPROTO_IPV4, false, []netlink.Attribute{
		{Type: unix.NFTA_CHAIN_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_CHAIN_NAME, Data: cstr(chain)},
	})
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

// nftCountRules counts a chain's rules without decoding them.
func nftCountRules(table, chain string) (int, error) {
	answers, err := nftGet(unix.NFT_MSG_GETRULE, unix.NFPROTO_IPV4, true, []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_RULE_CHAIN, Data: cstr(chain)},
	})
	return len(answers), err
}

// nftElements lists a map's elements.
func nftElements(table, set string) ([]nftElem, error) {
	answers, err := nftGet(unix.NFT_MSG_GETSETELEM, unix.NFPROTO_IPV4, true, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstr(set)},
	})
	if err != nil {
		return nil, err
	}
	var out []nftElem
	for _, a := range answers {
		els, err := decodeElements(a)
		if err != nil {
			return nil, fmt.Errorf("decode %s elements: %w", set, err)
		}
		out = append(out, els...)
	}
	return out, nil
}

// decodeElements reads the elements of a set element list message's
// attributes.
func decodeElements(attrs []byte) ([]nftElem, error) {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return nil, err
	}
	var out []nftElem
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				var e nftElem
				list.Nested(func(el *netlink.AttributeDecoder) error {
					for el.Next() {
						switch el.Type() {
						case unix.NFTA_SET_ELEM_KEY:
							el.Nested(func(d *netlink.AttributeDecoder) error { e.key = dataValue(d); return nil })
						case unix.NFTA_SET_ELEM_DATA:
							el.Nested(func(d *netlink.AttributeDecoder) error { e.val = dataValue(d); return nil })
						}
					}
					return nil
				})
				out = append(out, e)
			}
			return nil
		})
	}
	return out, ad.Err()
}

// dataValue reads NFTA_DATA_VALUE from a nested nft_data.
func dataValue(d *netlink.AttributeDecoder) []byte {
	var v []byte
	for d.Next() {
		if d.Type() == unix.NFTA_DATA_VALUE {
			v = append([]byte(nil), d.Bytes()...)
		}
	}
	return v
}
