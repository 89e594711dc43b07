package introducer

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"

	"github.com/natp2p/natp2p/probe/stun"
)

// builder appends a STUN message to a caller's buffer, so that a serving
// goroutine reuses one buffer for every response (no allocation).
type builder struct{ b []byte }

func newBuilder(buf []byte, typ uint16, tid [12]byte) builder {
	b := binary.BigEndian.AppendUint16(buf[:0], typ)
	b = append(b, 0, 0) // length, set by finish
	b = binary.BigEndian.AppendUint32(b, stun.MagicCookie)
	return builder{append(b, tid[:]...)}
}

// attr appends an attribute header and n zero bytes of value plus
// padding, and returns the value to fill in.
func (w *builder) attr(t uint16, n int) []byte {
	w.b = binary.BigEndian.AppendUint16(w.b, t)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(n))
	off := len(w.b)
	w.b = append(w.b, make([]byte, n+(4-n%4)%4)...) // does not allocate
	return w.b[off : off+n]
}

func (w *builder) bytes(t uint16, v []byte) { copy(w.attr(t, len(v)), v) }

// address appends a MAPPED-ADDRESS-style attribute (RFC 8489 14.1).
func (w *builder) address(t uint16, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	v := w.attr(t, 4+a.BitLen()/8)
	v[1] = 0x01 // IPv4
	if a.Is6() {
		v[1] = 0x02
	}
	binary.BigEndian.PutUint16(v[2:], ap.Port())
	if a.Is4() {
		a4 := a.As4()
		copy(v[4:], a4[:])
	} else {
		a16 := a.As16()
		copy(v[4:], a16[:])
	}
	return v
}

// xorAddress appends XOR-MAPPED-ADDRESS (RFC 8489 14.2): port and address
// XORed with the magic cookie and, for IPv6, the transaction ID.
func (w *builder) xorAddress(t uint16, ap netip.AddrPort, tid [12]byte) {
	v := w.address(t, ap)
	var key [16]byte
	binary.BigEndian.PutUint32(key[:], stun.MagicCookie)
	copy(key[4:], tid[:])
	v[2], v[3] = v[2]^key[0], v[3]^key[1]
	for i := range v[4:] {
		v[4+i] ^= key[i]
	}
}

// errorCode appends ERROR-CODE (RFC 8489 14.8).
func (w *builder) errorCode(code int, reason string) {
	v := w.attr(stun.AttrErrorCode, 4+len(reason))
	v[2], v[3] = byte(code/100), byte(code%100)
	copy(v[4:], reason)
}

// unknownAttributes appends UNKNOWN-ATTRIBUTES (RFC 8489 14.13).
func (w *builder) unknownAttributes(ts []uint16) {
	v := w.attr(stun.AttrUnknownAttrs, 2*len(ts))
	for i, t := range ts {
		binary.BigEndian.PutUint16(v[2*i:], t)
	}
}

// finish sets the length and appends FINGERPRINT (RFC 8489 14.7: CRC-32
// of the message up to it, with the length covering it, XOR 0x5354554e).
func (w *builder) finish() []byte {
	off := len(w.b)
	binary.BigEndian.PutUint16(w.b[2:], uint16(off+8-stun.HeaderSize))
	crc := crc32.ChecksumIEEE(w.b) ^ 0x5354554e
	binary.BigEndian.PutUint32(w.attr(stun.AttrFingerprint, 4), crc)
	return w.b
}
