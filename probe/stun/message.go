package stun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// MagicCookie is the fixed value of every RFC 5389 header (RFC 8489 5).
const MagicCookie = 0x2112A442

// HeaderSize is the size of a STUN header.
const HeaderSize = 20

// MaxMessageSize is the size of the largest message without PADDING: a
// Binding message over UDP fits one unfragmented datagram (RFC 8489 6.1
// recommends staying under the path MTU). Use it to size receive buffers
// for unpadded exchanges.
const MaxMessageSize = 1500

// MaxPaddedMessageSize bounds what Parse accepts: RFC 5780 7.6 PADDING
// makes a message as long as the sender's MTU (section 5), which is
// longer than MaxMessageSize, and at most as long as an IPv4 UDP payload
// can be (64 KB datagram, 20-byte IP and 8-byte UDP headers).
const MaxPaddedMessageSize = 65535 - 20 - 8

// Message types used by natp2p (RFC 8489 18.2: method 0x001, Binding).
const (
	TypeBindingRequest  uint16 = 0x0001
	TypeBindingSuccess  uint16 = 0x0101
	TypeBindingError    uint16 = 0x0111
	TypeBindingIndicate uint16 = 0x0011
)

// Attribute types (RFC 8489 18.3, RFC 5780 7, RFC 3489 11.2).
const (
	AttrMappedAddress    uint16 = 0x0001
	AttrResponseAddress  uint16 = 0x0002 // RFC 3489, not supported (deprecated)
	AttrChangeRequest    uint16 = 0x0003
	AttrSourceAddress    uint16 = 0x0004 // RFC 3489
	AttrChangedAddress   uint16 = 0x0005 // RFC 3489
	AttrErrorCode        uint16 = 0x0009
	AttrUnknownAttrs     uint16 = 0x000A
	AttrPadding          uint16 = 0x0026
	AttrResponsePort     uint16 = 0x0027
	AttrXORMappedAddress uint16 = 0x0020
	AttrSoftware         uint16 = 0x8022
	AttrFingerprint      uint16 = 0x8028
	AttrResponseOrigin   uint16 = 0x802B
	AttrOtherAddress     uint16 = 0x802C
)

// Errors Parse returns.
var (
	ErrTooShort    = errors.New("stun: shorter than a STUN header")
	ErrTooLong     = errors.New("stun: message longer than allowed")
	ErrNotSTUN     = errors.New("stun: not a STUN message (top bits or magic cookie)")
	ErrLength      = errors.New("stun: length field disagrees with the datagram")
	ErrAttribute   = errors.New("stun: malformed attribute")
	ErrFingerprint = errors.New("stun: FINGERPRINT does not match")
	ErrNoAttribute = errors.New("stun: attribute not present")
)

// Attribute is one TLV of a message; Value aliases the parsed buffer.
type Attribute struct {
	Type  uint16
	Value []byte
}

// Message is a STUN message.
type Message struct {
	Type          uint16
	TransactionID [12]byte
	Attributes    []Attribute
}

// NewTransactionID returns a random transaction ID (RFC 8489 6: 96 bits
// from a cryptographically random source).
func NewTransactionID() [12]byte {
	var id [12]byte
	if err := randomBytes(id[:]); err != nil {
		panic("stun: no random bytes: " + err.Error()) // never on Linux
	}
	return id
}

// IsMessage reports whether b starts like a STUN message: the first two
// bits zero and the magic cookie in place (RFC 8489 6).
func IsMessage(b []byte) bool {
	return len(b) >= HeaderSize && b[0]&0xC0 == 0 && binary.BigEndian.Uint32(b[4:8]) == MagicCookie
}

// Parse decodes one STUN message that fills b exactly. It checks the
// header, the length, the attribute framing and, when present, the
// FINGERPRINT.
func Parse(b []byte) (*Message, error) {
	switch {
	case len(b) < HeaderSize:
		return nil, ErrTooShort
	case len(b) > MaxPaddedMessageSize:
		return nil, ErrTooLong
	case !IsMessage(b):
		return nil, ErrNotSTUN
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n%4 != 0 || HeaderSize+n != len(b) {
		return nil, ErrLength
	}
	m := &Message{Type: binary.BigEndian.Uint16(b[0:2])}
	copy(m.TransactionID[:], b[8:20])
	return m, m.parseAttributes(b)
}

func (m *Message) parseAttributes(b []byte) error {
	for off := HeaderSize; off < len(b); {
		if len(b)-off < 4 {
			return ErrAttribute
		}
		t, l := binary.BigEndian.Uint16(b[off:]), int(binary.BigEndian.Uint16(b[off+2:]))
		end := off + 4 + l
		if end > len(b) {
			return ErrAttribute
		}
		if t == AttrFingerprint {
			if err := checkFingerprint(b, off, b[off+4:end]); err != nil {
				return err
			}
		}
		m.Attributes = append(m.Attributes, Attribute{Type: t, Value: b[off+4 : end]})
		off = end + pad(l)
	}
	return nil
}

// checkFingerprint verifies a FINGERPRINT at off, which must be last (RFC
// 8489 14.7).
func checkFingerprint(b []byte, off int, v []byte) error {
	if len(v) != 4 || off+8 != len(b) {
		return ErrFingerprint
	}
	if fingerprint(b[:off], off+8-HeaderSize) != binary.BigEndian.Uint32(v) {
		return ErrFingerprint
	}
	return nil
}

// fingerprint is CRC-32 of the message up to the FINGERPRINT attribute,
// with the header's length covering the FINGERPRINT, XOR 0x5354554e.
func fingerprint(upTo []byte, length int) uint32 {
	h := make([]byte, len(upTo))
	copy(h, upTo)
	binary.BigEndian.PutUint16(h[2:4], uint16(length))
	return crc32.ChecksumIEEE(h) ^ 0x5354554e
}

func pad(l int) int { return (4 - l%4) % 4 }

// Get returns the first attribute of type t.
func (m *Message) Get(t uint16) ([]byte, bool) {
	for _, a := range m.Attributes {
		if a.Type == t {
			return a.Value, true
		}
	}
	return nil, false
}

// Add appends an attribute.
func (m *Message) Add(t uint16, v []byte) {
	m.Attributes = append(m.Attributes, Attribute{Type: t, Value: v})
}

// Marshal encodes the message. With fingerprint it appends a FINGERPRINT.
func (m *Message) Marshal(withFingerprint bool) []byte {
	b := make([]byte, HeaderSize, HeaderSize+64)
	binary.BigEndian.PutUint16(b[0:2], m.Type)
	binary.BigEndian.PutUint32(b[4:8], MagicCookie)
	copy(b[8:20], m.TransactionID[:])
	for _, a := range m.Attributes {
		b = appendAttr(b, a.Type, a.Value)
	}
	if withFingerprint {
		off := len(b)
		b = appendAttr(b, AttrFingerprint, make([]byte, 4))
		binary.BigEndian.PutUint32(b[off+4:], fingerprint(b[:off], len(b)-HeaderSize))
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-HeaderSize))
	return b
}

func appendAttr(b []byte, t uint16, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, t)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return append(b, make([]byte, pad(len(v)))...)
}

// String summarises the message for logs.
func (m *Message) String() string {
	return fmt.Sprintf("stun type=0x%04x tid=%x attrs=%d", m.Type, m.TransactionID, len(m.Attributes))
}
