//go:build linux

package enforce

import (
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// google/nftables v0.3.0 cannot express "ct original ip saddr"
// (NFT_CT_SRC_IP, which carries a direction): its Ct expression adds the
// direction only to the generic NFT_CT_SRC, a form nft 1.0.6 crashes on
// when it lists a concatenation holding it. The learn rules are therefore
// sent as expressions already encoded, with that one encoded by hand;
// the others use google/nftables' expression encoders.

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
