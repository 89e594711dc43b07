package stun

import "encoding/binary"

// natp2p's own attributes, comprehension-optional (0x8000-0xFFFF: RFC
// 5389 sections 15 and 18.2, RFC 8489 14 and 18.3), so that any other
// STUN agent ignores them. They are not registered with IANA: the range
// 0xC000-0xFFFF is "Expert Review", unassigned around 0xC4E0 (see
// docs/introducer.md).
const (
	// AttrNATP2PAsk, in a Binding request over TCP, asks the introducer
	// for the measurements named by its flags (AskUnsolicited, AskPeer).
	AttrNATP2PAsk uint16 = 0xC4E0
	// AttrNATP2PUnsolicited, in a Binding success response, says what
	// came back to the introducer's unsolicited SYN (see Unsolicited).
	AttrNATP2PUnsolicited uint16 = 0xC4E1
	// AttrNATP2PPeer, in a Binding success response, is the address of
	// the introducer's punching peer (XOR-MAPPED-ADDRESS encoding).
	AttrNATP2PPeer uint16 = 0xC4E2
)

// Flags of AttrNATP2PAsk.
const (
	// AskUnsolicited: send one SYN from the alternate address to the
	// public endpoint of this connection, and say what came back.
	AskUnsolicited uint32 = 1 << 0
	// AskPeer: play a peer that punches a TCP hole to the public endpoint
	// of this connection (simultaneous open).
	AskPeer uint32 = 1 << 1
)

// Unsolicited is the outcome of the introducer's unsolicited SYN.
type Unsolicited uint8

// The outcomes of an unsolicited SYN.
const (
	UnsolicitedNone    Unsolicited = 1 // nothing came back within the bound: silently dropped
	UnsolicitedReset   Unsolicited = 2 // a RST (or an ICMP port unreachable, which the kernel reports alike)
	UnsolicitedICMP    Unsolicited = 3 // an ICMP error (host or network unreachable, prohibited)
	UnsolicitedSYNACK  Unsolicited = 4 // a SYN-ACK: something accepted the connection
	unsolicitedInvalid Unsolicited = 5
)

// EncodeUnsolicited encodes AttrNATP2PUnsolicited: the outcome, a zero
// byte and the errno the introducer's kernel reported (0 for none).
func EncodeUnsolicited(u Unsolicited, errno uint16) []byte {
	return []byte{byte(u), 0, byte(errno >> 8), byte(errno)}
}

// DecodeUnsolicited decodes AttrNATP2PUnsolicited.
func DecodeUnsolicited(v []byte) (Unsolicited, uint16, error) {
	if len(v) != 4 || v[0] == 0 || Unsolicited(v[0]) >= unsolicitedInvalid {
		return 0, 0, ErrAttribute
	}
	return Unsolicited(v[0]), binary.BigEndian.Uint16(v[2:]), nil
}

// EncodeAsk encodes AttrNATP2PAsk.
func EncodeAsk(flags uint32) []byte { return binary.BigEndian.AppendUint32(nil, flags) }

// DecodeAsk decodes AttrNATP2PAsk.
func DecodeAsk(v []byte) (uint32, error) {
	if len(v) != 4 {
		return 0, ErrAttribute
	}
	return binary.BigEndian.Uint32(v), nil
}
