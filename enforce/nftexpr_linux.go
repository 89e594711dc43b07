//go:build linux

package enforce

import (
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The rules' expressions, encoded here: nine kinds, each a name and a few
// attributes. (google/nftables' expr package encodes them too, but links
// in a decoder for every expression nf_tables has, about 100 KB of the
// router's binary; and it cannot express "ct original ip saddr".) A unit
// test checks these encodings against that package's byte for byte.

// rawExpr is an expression encoded as NFTA_EXPR_* attributes.
type rawExpr []byte

// nftExpr encodes an expression of a name and its attributes.
func nftExpr(name string, attrs ...netlink.Attribute) rawExpr {
	data, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_EXPR_NAME, Data: cstr(name)},
		nested(unix.NFTA_EXPR_DATA, attrs),
	})
	return data
}

func u32(t uint16, v uint32) netlink.Attribute { return netlink.Attribute{Type: t, Data: be32(v)} }

// value is a nested NFTA_DATA_VALUE, as constants travel.
func value(t uint16, v []byte) netlink.Attribute {
	return nested(t, []netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: v}})
}

// metaLoad loads meta key into reg.
func metaLoad(key, reg uint32) rawExpr {
	return nftExpr("meta", u32(unix.NFTA_META_KEY, key), u32(unix.NFTA_META_DREG, reg))
}

// compare compares reg with data.
func compare(op, reg uint32, data []byte) rawExpr {
	return nftExpr("cmp", u32(unix.NFTA_CMP_SREG, reg), u32(unix.NFTA_CMP_OP, op), value(unix.NFTA_CMP_DATA, data))
}

// payload loads n bytes at offset of a header into reg.
func payload(base, offset, n, reg uint32) rawExpr {
	return nftExpr("payload", u32(unix.NFTA_PAYLOAD_DREG, reg), u32(unix.NFTA_PAYLOAD_BASE, base),
		u32(unix.NFTA_PAYLOAD_OFFSET, offset), u32(unix.NFTA_PAYLOAD_LEN, n))
}

// mapLookup looks the key in reg up in a map, its data into dreg.
func mapLookup(set string, reg, dreg uint32) rawExpr {
	return nftExpr("lookup", u32(unix.NFTA_LOOKUP_SREG, reg), u32(unix.NFTA_LOOKUP_DREG, dreg),
		netlink.Attribute{Type: unix.NFTA_LOOKUP_SET, Data: cstr(set)}, u32(unix.NFTA_LOOKUP_SET_ID, 0))
}

// inSet matches when the key in reg is in the set.
func inSet(set string, reg uint32) rawExpr {
	return nftExpr("lookup", u32(unix.NFTA_LOOKUP_SREG, reg),
		netlink.Attribute{Type: unix.NFTA_LOOKUP_SET, Data: cstr(set)}, u32(unix.NFTA_LOOKUP_SET_ID, 0))
}

// notInSet matches when the key in reg is not in the set.
func notInSet(set string, reg uint32) rawExpr {
	return nftExpr("lookup", u32(unix.NFTA_LOOKUP_SREG, reg), u32(unix.NFTA_LOOKUP_FLAGS, unix.NFT_LOOKUP_F_INV),
		netlink.Attribute{Type: unix.NFTA_LOOKUP_SET, Data: cstr(set)}, u32(unix.NFTA_LOOKUP_SET_ID, 0))
}

// natRangeProtoSpecified is NF_NAT_RANGE_PROTO_SPECIFIED: the port is given.
const natRangeProtoSpecified = 2

// natTo translates (unix.NFT_NAT_SNAT or DNAT) to the address in regAddr
// and, if regPort is not 0, the port in regPort.
func natTo(typ, regAddr, regPort uint32) rawExpr {
	attrs := []netlink.Attribute{u32(unix.NFTA_NAT_TYPE, typ), u32(unix.NFTA_NAT_FAMILY, unix.NFPROTO_IPV4),
		u32(unix.NFTA_NAT_REG_ADDR_MIN, regAddr)}
	if regPort != 0 {
		attrs = append(attrs, u32(unix.NFTA_NAT_REG_PROTO_MIN, regPort), u32(unix.NFTA_NAT_FLAGS, natRangeProtoSpecified))
	}
	return nftExpr("nat", attrs...)
}

// and masks reg (4 bytes) with mask.
func and(reg uint32, mask []byte) rawExpr {
	return nftExpr("bitwise", u32(unix.NFTA_BITWISE_SREG, reg), u32(unix.NFTA_BITWISE_DREG, reg),
		u32(unix.NFTA_BITWISE_LEN, 4), value(unix.NFTA_BITWISE_MASK, mask), value(unix.NFTA_BITWISE_XOR, make([]byte, 4)))
}

// ctLoad loads a conntrack key into reg.
func ctLoad(key, reg uint32) rawExpr {
	return nftExpr("ct", u32(unix.NFTA_CT_KEY, key), u32(unix.NFTA_CT_DREG, reg))
}

// NFT_CT_SRC_IP and NFT_CT_DST_IP: the IPv4 source and destination of
// one direction's tuple.
const (
	nftCtSrcIP = 19
	nftCtDstIP = 20
)

// ctOriginal loads a key of the original direction's tuple into reg
// ("ct original ip saddr", "ct original proto-src"). The direction is one
// byte, as the kernel's policy says.
func ctOriginal(key, reg uint32) rawExpr {
	return nftExpr("ct", u32(unix.NFTA_CT_KEY, key), u32(unix.NFTA_CT_DREG, reg),
		netlink.Attribute{Type: unix.NFTA_CT_DIRECTION, Data: []byte{0}}) // IP_CT_DIR_ORIGINAL
}

// dynsetAdd adds the key in regKey with the data in regData to a map
// from the packet path.
func dynsetAdd(set string, regKey, regData uint32) rawExpr {
	return nftExpr("dynset", u32(unix.NFTA_DYNSET_SREG_KEY, regKey), u32(unix.NFTA_DYNSET_SREG_DATA, regData),
		u32(unix.NFTA_DYNSET_OP, unix.NFT_DYNSET_OP_ADD), netlink.Attribute{Type: unix.NFTA_DYNSET_SET_NAME, Data: cstr(set)},
		u32(unix.NFTA_DYNSET_SET_ID, 0), u32(unix.NFTA_DYNSET_FLAGS, 0))
}
