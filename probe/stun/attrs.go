package stun

import (
	"encoding/binary"
	"net/netip"
)

// Address families of address attributes (RFC 8489 14.1).
const (
	familyIPv4 = 0x01
	familyIPv6 = 0x02
)

// EncodeAddress encodes a MAPPED-ADDRESS-style value (also RESPONSE-ORIGIN,
// OTHER-ADDRESS, CHANGED-ADDRESS, SOURCE-ADDRESS).
func EncodeAddress(ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	v := []byte{0, familyIPv4, 0, 0}
	if a.Is6() {
		v[1] = familyIPv6
	}
	binary.BigEndian.PutUint16(v[2:], ap.Port())
	return append(v, a.AsSlice()...)
}

// DecodeAddress decodes a MAPPED-ADDRESS-style value.
func DecodeAddress(v []byte) (netip.AddrPort, error) {
	if len(v) < 4 {
		return netip.AddrPort{}, ErrAttribute
	}
	port := binary.BigEndian.Uint16(v[2:4])
	switch {
	case v[1] == familyIPv4 && len(v) == 8:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(v[4:8])), port), nil
	case v[1] == familyIPv6 && len(v) == 20:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(v[4:20])), port), nil
	}
	return netip.AddrPort{}, ErrAttribute
}

// EncodeXORAddress encodes XOR-MAPPED-ADDRESS for a transaction (RFC 8489
// 14.2: the port and address XORed with the magic cookie and, for IPv6,
// the transaction ID).
func EncodeXORAddress(ap netip.AddrPort, tid [12]byte) []byte {
	v := EncodeAddress(ap)
	xorAddress(v, tid)
	return v
}

// DecodeXORAddress decodes XOR-MAPPED-ADDRESS.
func DecodeXORAddress(v []byte, tid [12]byte) (netip.AddrPort, error) {
	if len(v) < 4 {
		return netip.AddrPort{}, ErrAttribute
	}
	c := make([]byte, len(v))
	copy(c, v)
	xorAddress(c, tid)
	return DecodeAddress(c)
}

func xorAddress(v []byte, tid [12]byte) {
	var key [16]byte
	binary.BigEndian.PutUint32(key[:4], MagicCookie)
	copy(key[4:], tid[:])
	v[2] ^= key[0]
	v[3] ^= key[1]
	for i := 4; i < len(v) && i-4 < len(key); i++ {
		v[i] ^= key[i-4]
	}
}

// CHANGE-REQUEST flags (RFC 5780 7.2).
const (
	ChangeIP   uint32 = 0x4
	ChangePort uint32 = 0x2
)

// EncodeChangeRequest encodes CHANGE-REQUEST.
func EncodeChangeRequest(flags uint32) []byte { return binary.BigEndian.AppendUint32(nil, flags) }

// DecodeChangeRequest decodes CHANGE-REQUEST.
func DecodeChangeRequest(v []byte) (uint32, error) {
	if len(v) != 4 {
		return 0, ErrAttribute
	}
	return binary.BigEndian.Uint32(v), nil
}

// EncodeResponsePort encodes RESPONSE-PORT (RFC 5780 7.5: port, 2 bytes
// reserved).
func EncodeResponsePort(port uint16) []byte { return []byte{byte(port >> 8), byte(port), 0, 0} }

// DecodeResponsePort decodes RESPONSE-PORT.
func DecodeResponsePort(v []byte) (uint16, error) {
	if len(v) != 4 {
		return 0, ErrAttribute
	}
	return binary.BigEndian.Uint16(v), nil
}

// EncodeErrorCode encodes ERROR-CODE (RFC 8489 14.8).
func EncodeErrorCode(code int, reason string) []byte {
	return append([]byte{0, 0, byte(code / 100), byte(code % 100)}, reason...)
}

// DecodeErrorCode decodes ERROR-CODE.
func DecodeErrorCode(v []byte) (int, string, error) {
	if len(v) < 4 || v[2] < 3 || v[2] > 6 || v[3] > 99 {
		return 0, "", ErrAttribute
	}
	return int(v[2])*100 + int(v[3]), string(v[4:]), nil
}

// Mapped returns the address the server saw: XOR-MAPPED-ADDRESS, or
// MAPPED-ADDRESS from servers that lack it (RFC 3489). xor says which.
func (m *Message) Mapped() (ap netip.AddrPort, xor bool, err error) {
	if v, ok := m.Get(AttrXORMappedAddress); ok {
		ap, err = DecodeXORAddress(v, m.TransactionID)
		return ap, true, err
	}
	if v, ok := m.Get(AttrMappedAddress); ok {
		ap, err = DecodeAddress(v)
		return ap, false, err
	}
	return netip.AddrPort{}, false, ErrNoAttribute
}

// Address decodes an attribute of type t holding a plain address.
func (m *Message) Address(t uint16) (netip.AddrPort, error) {
	v, ok := m.Get(t)
	if !ok {
		return netip.AddrPort{}, ErrNoAttribute
	}
	return DecodeAddress(v)
}
