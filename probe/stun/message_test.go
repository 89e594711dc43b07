package stun

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	ap  = netip.MustParseAddrPort
	tid = [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}
)

func TestRFC5769(t *testing.T) {
	tests := []struct {
		name   string
		hex    string
		typ    uint16
		attrs  []uint16
		mapped netip.AddrPort
	}{
		{name: "request", hex: rfc5769Request, typ: TypeBindingRequest,
			attrs: []uint16{AttrSoftware, 0x0024, 0x8029, 0x0006, 0x0008, AttrFingerprint}},
		{name: "IPv4 response", hex: rfc5769IPv4Response, typ: TypeBindingSuccess,
			attrs:  []uint16{AttrSoftware, AttrXORMappedAddress, 0x0008, AttrFingerprint},
			mapped: ap("192.0.2.1:32853")},
		{name: "IPv6 response", hex: rfc5769IPv6Response, typ: TypeBindingSuccess,
			attrs:  []uint16{AttrSoftware, AttrXORMappedAddress, 0x0008, AttrFingerprint},
			mapped: ap("[2001:db8:1234:5678:11:2233:4455:6677]:32853")},
		{name: "long-term request", hex: rfc5769LongTermRequest, typ: TypeBindingRequest,
			attrs: []uint16{0x0006, 0x0015, 0x0014, 0x0008}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(unhex(t, tt.hex))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.Type != tt.typ {
				t.Errorf("type 0x%04x, want 0x%04x", m.Type, tt.typ)
			}
			if diff := cmp.Diff(tt.attrs, attrTypes(m)); diff != "" {
				t.Errorf("attribute types (-want +got):\n%s", diff)
			}
			checkMapped(t, m, tt.mapped)
		})
	}
}

func attrTypes(m *Message) []uint16 {
	var ts []uint16
	for _, a := range m.Attributes {
		ts = append(ts, a.Type)
	}
	return ts
}

func checkMapped(t *testing.T, m *Message, want netip.AddrPort) {
	t.Helper()
	got, xor, err := m.Mapped()
	if !want.IsValid() {
		if !errors.Is(err, ErrNoAttribute) {
			t.Errorf("Mapped: %v, %v, want ErrNoAttribute", got, err)
		}
		return
	}
	if err != nil || !xor || got != want {
		t.Errorf("Mapped = %v, xor %v, %v; want %v from XOR-MAPPED-ADDRESS", got, xor, err, want)
	}
}

// TestRFC5769XORMappedAddress encodes the vectors' mapped addresses and
// expects their XOR-MAPPED-ADDRESS values byte for byte.
func TestRFC5769XORMappedAddress(t *testing.T) {
	tests := []struct {
		name string
		addr netip.AddrPort
		hex  string
	}{
		{"IPv4", ap("192.0.2.1:32853"), "0001a147 e112a643"},
		{"IPv6", ap("[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
			"0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(unhex(t, tt.hex), EncodeXORAddress(tt.addr, tid)); diff != "" {
				t.Errorf("EncodeXORAddress (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRFC5769Fingerprint flips each byte of the vectors that carry a
// FINGERPRINT: every change must fail Parse, except in the FINGERPRINT's
// own type field (it then is an unknown attribute and nothing is
// checked).
func TestRFC5769Fingerprint(t *testing.T) {
	for _, v := range []string{rfc5769Request, rfc5769IPv4Response, rfc5769IPv6Response} {
		b := unhex(t, v)
		for i := range b {
			if i == len(b)-8 || i == len(b)-7 {
				continue
			}
			c := append([]byte(nil), b...)
			c[i] ^= 0x01
			if _, err := Parse(c); err == nil {
				t.Errorf("Parse accepted byte %d flipped", i)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	valid := (&Message{Type: TypeBindingRequest, TransactionID: tid}).Marshal(true)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTooShort},
		{"19 bytes", valid[:19], ErrTooShort},
		{"too long", make([]byte, MaxPaddedMessageSize+1), ErrTooLong},
		{"top bits", edit(valid, func(b []byte) { b[0] |= 0x80 }), ErrNotSTUN},
		{"no magic cookie (RFC 3489)", edit(valid, func(b []byte) { b[4] = 0 }), ErrNotSTUN},
		{"length not a multiple of 4", edit(valid, func(b []byte) { b[3] = 7 }), ErrLength},
		{"length beyond datagram", edit(valid, func(b []byte) { b[3] = 12 }), ErrLength},
		{"trailing bytes", append(edit(valid, nil), 0, 0, 0, 0), ErrLength},
		{"attribute value beyond end", withBody(0x80, 0x22, 0, 8, 'a', 'b', 'c', 'd'), ErrAttribute},
		{"bad FINGERPRINT", edit(valid, func(b []byte) { b[len(b)-1] ^= 1 }), ErrFingerprint},
		{"FINGERPRINT not last", withBody(0x80, 0x28, 0, 4, 0, 0, 0, 0, 0x80, 0x22, 0, 0), ErrFingerprint},
		{"FINGERPRINT too short", withBody(0x80, 0x28, 0, 0), ErrFingerprint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.b)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse: %v, want %v", err, tt.want)
			}
		})
	}
}

// edit returns a copy of b changed by fn.
func edit(b []byte, fn func([]byte)) []byte {
	c := append([]byte(nil), b...)
	if fn != nil {
		fn(c)
	}
	return c
}

// withBody returns a Binding request header followed by body, with the
// length field set to len(body) rounded up to 4.
func withBody(body ...byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(body)+3)
	binary.BigEndian.PutUint16(b, TypeBindingRequest)
	binary.BigEndian.PutUint32(b[4:], MagicCookie)
	b = append(b, body...)
	b = append(b, make([]byte, pad(len(body)))...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)-HeaderSize))
	return b
}

func TestMarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		fp   bool
	}{
		{name: "empty request", m: Message{Type: TypeBindingRequest, TransactionID: tid}},
		{name: "empty with FINGERPRINT", m: Message{Type: TypeBindingRequest, TransactionID: tid}, fp: true},
		{name: "odd lengths padded", fp: true, m: Message{Type: TypeBindingSuccess, TransactionID: tid,
			Attributes: []Attribute{
				{AttrSoftware, []byte("x")},
				{AttrXORMappedAddress, EncodeXORAddress(ap("198.51.100.7:4000"), tid)},
				{AttrUnknownAttrs, []byte{0x00, 0x24}},
				{AttrPadding, make([]byte, 1402)},
				{AttrErrorCode, EncodeErrorCode(420, "Unknown Attribute")},
			}}},
		{name: "indication, zero-length value", m: Message{Type: TypeBindingIndicate, TransactionID: tid,
			Attributes: []Attribute{{0x8023, []byte{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.m.Marshal(tt.fp)
			if len(b)%4 != 0 {
				t.Fatalf("Marshal: length %d not a multiple of 4", len(b))
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(Marshal): %v", err)
			}
			want := tt.m
			if tt.fp {
				want.Attributes = append(append([]Attribute(nil), want.Attributes...),
					Attribute{AttrFingerprint, b[len(b)-4:]})
			}
			if diff := cmp.Diff(&want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse(Marshal) (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParsePadded checks RFC 5780 7.6: PADDING makes a request as long as
// the client's MTU (section 5: "it SHOULD be equal to the MTU of the
// outgoing interface"), so 1500 bytes of PADDING plus the header and
// other attributes exceed a 1500-byte MTU, and up to the 64 KB datagram
// limit is allowed. turnutils_natdiscovery -P sends 1500 bytes of PADDING.
func TestParsePadded(t *testing.T) {
	for _, n := range []int{1500, 9000, MaxPaddedMessageSize - HeaderSize - 4 - 8 - 3} {
		m := Message{Type: TypeBindingRequest, TransactionID: tid}
		m.Add(AttrPadding, make([]byte, n))
		b := m.Marshal(true)
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(%d-byte PADDING, %d-byte message): %v", n, len(b), err)
		}
		if v, _ := got.Get(AttrPadding); len(v) != n {
			t.Errorf("PADDING length %d, want %d", len(v), n)
		}
	}
}

func TestGet(t *testing.T) {
	var m Message
	m.Add(AttrSoftware, []byte("first"))
	m.Add(AttrSoftware, []byte("second"))
	if v, ok := m.Get(AttrSoftware); !ok || string(v) != "first" {
		t.Errorf("Get = %q, %v; want the first attribute", v, ok)
	}
	if _, ok := m.Get(AttrPadding); ok {
		t.Error("Get found an absent attribute")
	}
}

func TestString(t *testing.T) {
	m := Message{Type: TypeBindingRequest, TransactionID: tid, Attributes: []Attribute{{AttrSoftware, nil}}}
	const want = "stun type=0x0001 tid=b7e7a701bc34d686fa87dfae attrs=1"
	if got := m.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestNewTransactionID(t *testing.T) {
	if a, b := NewTransactionID(), NewTransactionID(); a == b {
		t.Errorf("two transaction IDs are equal: %x", a)
	}
}

func TestIsMessage(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"request", withBody(), true},
		{"short", withBody()[:19], false},
		{"RTP-like", edit(withBody(), func(b []byte) { b[0] = 0x80 }), false},
		{"no cookie", edit(withBody(), func(b []byte) { b[7] = 0 }), false},
	}
	for _, tt := range tests {
		if got := IsMessage(tt.b); got != tt.want {
			t.Errorf("%s: IsMessage = %v, want %v", tt.name, got, tt.want)
		}
	}
}
