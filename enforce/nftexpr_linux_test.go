//go:build linux

package enforce

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The hand-written encodings equal google/nftables' expr package's, byte
// for byte (the only difference: ct's direction is one byte, as the
// kernel's policy says, where expr sends four).
func TestExprsMatchGoogleNftables(t *testing.T) {
	mask := binary.NativeEndian.AppendUint32(nil, ipsDstNAT)
	for _, tt := range []struct {
		name string
		got  rawExpr
		want expr.Any
	}{
		{"meta", metaLoad(unix.NFT_META_L4PROTO, reg32a), &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32a}},
		{"cmp", compare(unix.NFT_CMP_NEQ, regWide, []byte{1, 2, 3, 4}),
			&expr.Cmp{Op: expr.CmpOpNeq, Register: regWide, Data: []byte{1, 2, 3, 4}}},
		{"payload", payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32c),
			&expr.Payload{Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2, DestRegister: reg32c}},
		{"lookup", mapLookup(nftPins, reg32a, reg32a),
			&expr.Lookup{SourceRegister: reg32a, SetName: nftPins, DestRegister: reg32a, IsDestRegSet: true}},
		{"lookup !=", notInSet(nftRev, reg32a), &expr.Lookup{SourceRegister: reg32a, SetName: nftRev, Invert: true}},
		{"snat to address", natTo(unix.NFT_NAT_SNAT, reg32a, 0),
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg32a}},
		{"dnat to address and port", natTo(unix.NFT_NAT_DNAT, reg32a, reg32b),
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg32a, RegProtoMin: reg32b, Specified: true}},
		{"bitwise", and(regWide, mask),
			&expr.Bitwise{SourceRegister: regWide, DestRegister: regWide, Len: 4, Mask: mask, Xor: make([]byte, 4)}},
		{"ct", ctLoad(unix.NFT_CT_STATUS, regWide), &expr.Ct{Key: expr.CtKeySTATUS, Register: regWide}},
		{"dynset", dynsetAdd(nftPins, reg32a, reg32e),
			&expr.Dynset{SrcRegKey: reg32a, SrcRegData: reg32e, SetName: nftPins, Operation: unix.NFT_DYNSET_OP_ADD}},
	} {
		want, err := expr.Marshal(unix.NFPROTO_IPV4, tt.want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tt.got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, tt.got, want)
		}
	}
	// ct original proto-src: the same but for the direction's width.
	want, _ := expr.Marshal(unix.NFPROTO_IPV4, &expr.Ct{Key: expr.CtKeyPROTOSRC, Register: reg32c})
	got := ctOriginal(unix.NFT_CT_PROTO_SRC, reg32c)
	if len(got) != len(want) || !bytes.Equal(got[:len(got)-8], want[:len(want)-8]) {
		t.Errorf("ct original proto-src:\n got %x\nwant %x (but a one-byte direction)", got, want)
	}
}
