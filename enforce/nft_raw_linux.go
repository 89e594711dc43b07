//go:build linux

package enforce

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// google/nftables v0.3.0 cannot express "ct original ip saddr"
// (NFT_CT_SRC_IP, which carries a direction): its Ct expression adds the
// direction only to the generic NFT_CT_SRC, a form nft 1.0.6 crashes on
// when it lists a concatenation holding it. The learn rules are therefore
// sent here as raw netlink, expression by expression, with that one
// expression encoded by hand; everything else uses google/nftables'
// encoders.

// nftCtSrcIP is NFT_CT_SRC_IP: the IPv4 source of one direction's tuple.
const nftCtSrcIP = 19

// rawExpr is an expression already encoded as NFTA_EXPR_* attributes.
type rawExpr []byte

// ctOriginalSrcIP encodes "ct original ip saddr" into register reg.
func ctOriginalSrcIP(reg uint32) (rawExpr, error) {
	data, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_CT_DREG, Data: be32(reg)},
		{Type: unix.NFTA_CT_KEY, Data: be32(nftCtSrcIP)},
		{Type: unix.NFTA_CT_DIRECTION, Data: []byte{0}}, // IP_CT_DIR_ORIGINAL
	})
	if err != nil {
		return nil, err
	}
	return netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_EXPR_NAME, Data: []byte("ct\x00")},
		{Type: unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, Data: data},
	})
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// encode turns google/nftables expressions into rawExprs.
func encode(fam byte, es ...expr.Any) ([]rawExpr, error) {
	out := make([]rawExpr, len(es))
	for i, e := range es {
		b, err := expr.Marshal(fam, e)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// addRawRules appends rules, each a list of encoded expressions, to a chain
// of table (family ip), in one batch.
func addRawRules(table, chain string, rules [][]rawExpr) error {
	msgs := []netlink.Message{batchMsg(unix.NFNL_MSG_BATCH_BEGIN)}
	for _, r := range rules {
		elems := make([]netlink.Attribute, len(r))
		for i, e := range r {
			elems[i] = netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: e}
		}
		list, err := netlink.MarshalAttributes(elems)
		if err != nil {
			return err
		}
		attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
			{Type: unix.NFTA_RULE_TABLE, Data: []byte(table + "\x00")},
			{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
			{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: list},
		})
		if err != nil {
			return err
		}
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWRULE),
				Flags: netlink.Request | netlink.Acknowledge | netlink.Create | unix.NLM_F_APPEND},
			Data: append(nfgenmsg(unix.NFPROTO_IPV4, 0), attrs...),
		})
	}
	msgs = append(msgs, batchMsg(unix.NFNL_MSG_BATCH_END))
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	sent, err := c.SendMessages(msgs)
	if err != nil {
		return err
	}
	// One acknowledgement (or error) per rule.
	for range sent[1 : len(sent)-1] {
		if _, err := c.Receive(); err != nil {
			return fmt.Errorf("add %s rule: %w", chain, err)
		}
	}
	return nil
}

func batchMsg(t int) netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(t), Flags: netlink.Request},
		Data: nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)}
}

// nfgenmsg is struct nfgenmsg: family, version, resource id.
func nfgenmsg(family uint8, resID uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{family, unix.NFNETLINK_V0}, resID)
}
