package stun

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAddress(t *testing.T) {
	tests := []struct {
		name string
		addr netip.AddrPort
		want netip.AddrPort // decoded; zero means addr
		hex  string
		xor  string
	}{
		{name: "IPv4", addr: ap("192.0.2.1:32853"), hex: "00018055 c0000201", xor: "0001a147 e112a643"},
		{name: "IPv4 port 0", addr: ap("203.0.113.10:0"), hex: "00010000 cb00710a", xor: "00012112 ea12d548"},
		{name: "IPv6", addr: ap("[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
			hex: "00028055 20010db8 12345678 00112233 44556677",
			xor: "0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9"},
		{name: "IPv4-mapped IPv6 is sent as IPv4", addr: ap("[::ffff:198.51.100.1]:3478"),
			want: ap("198.51.100.1:3478"), hex: "00010d96 c6336401", xor: "00012c84 e721c043"},
		{name: "zone dropped", addr: ap("[fe80::1%eth0]:1"), want: ap("[fe80::1]:1"),
			hex: "00020001 fe800000 00000000 00000000 00000001",
			xor: "00022113 df92a442 b7e7a701 bc34d686 fa87dfaf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if !want.IsValid() {
				want = tt.addr
			}
			checkCodec(t, "EncodeAddress", unhex(t, tt.hex), EncodeAddress(tt.addr), want, DecodeAddress)
			checkCodec(t, "EncodeXORAddress", unhex(t, tt.xor), EncodeXORAddress(tt.addr, tid), want,
				func(v []byte) (netip.AddrPort, error) { return DecodeXORAddress(v, tid) })
		})
	}
}

func checkCodec(t *testing.T, name string, wantV, gotV []byte, want netip.AddrPort,
	decode func([]byte) (netip.AddrPort, error)) {
	t.Helper()
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
	got, err := decode(gotV)
	if err != nil || got != want {
		t.Errorf("decoding %s = %v, %v; want %v", name, got, err, want)
	}
}

func TestDecodeAddressErrors(t *testing.T) {
	tests := []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"3 bytes", []byte{0, 1, 0}},
		{"IPv4 short", []byte{0, 1, 0, 1, 1, 2, 3}},
		{"IPv4 long", []byte{0, 1, 0, 1, 1, 2, 3, 4, 5}},
		{"IPv6 short", append([]byte{0, 2, 0, 1}, make([]byte, 15)...)},
		{"IPv6 with IPv4 length", []byte{0, 2, 0, 1, 1, 2, 3, 4}},
		{"unknown family", []byte{0, 3, 0, 1, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := DecodeAddress(tt.v); !errors.Is(err, ErrAttribute) {
				t.Errorf("DecodeAddress = %v, %v; want ErrAttribute", got, err)
			}
			if got, err := DecodeXORAddress(tt.v, tid); !errors.Is(err, ErrAttribute) {
				t.Errorf("DecodeXORAddress = %v, %v; want ErrAttribute", got, err)
			}
		})
	}
}

// TestDecodeXORAddressKeepsValue: decoding must not change the parsed
// message it reads from.
func TestDecodeXORAddressKeepsValue(t *testing.T) {
	v := EncodeXORAddress(ap("192.0.2.1:32853"), tid)
	c := append([]byte(nil), v...)
	if _, err := DecodeXORAddress(v, tid); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, v); diff != "" {
		t.Errorf("value changed (-before +after):\n%s", diff)
	}
}

func TestChangeRequest(t *testing.T) {
	tests := []struct {
		name  string
		flags uint32
		hex   string
	}{
		{"none", 0, "00000000"},
		{"change port", ChangePort, "00000002"},
		{"change IP", ChangeIP, "00000004"},
		{"both", ChangeIP | ChangePort, "00000006"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := EncodeChangeRequest(tt.flags)
			if diff := cmp.Diff(unhex(t, tt.hex), v); diff != "" {
				t.Errorf("EncodeChangeRequest (-want +got):\n%s", diff)
			}
			if got, err := DecodeChangeRequest(v); err != nil || got != tt.flags {
				t.Errorf("DecodeChangeRequest = %#x, %v; want %#x", got, err, tt.flags)
			}
		})
	}
	for _, bad := range [][]byte{nil, {0, 0, 6}, {0, 0, 0, 6, 0}} {
		if _, err := DecodeChangeRequest(bad); !errors.Is(err, ErrAttribute) {
			t.Errorf("DecodeChangeRequest(%x): %v, want ErrAttribute", bad, err)
		}
	}
}

func TestResponsePort(t *testing.T) {
	for _, port := range []uint16{0, 1, 3478, 65535} {
		v := EncodeResponsePort(port)
		if len(v) != 4 || v[2] != 0 || v[3] != 0 {
			t.Errorf("EncodeResponsePort(%d) = %x: want port and 2 zero bytes", port, v)
		}
		if got, err := DecodeResponsePort(v); err != nil || got != port {
			t.Errorf("DecodeResponsePort(%x) = %d, %v; want %d", v, got, err, port)
		}
	}
	for _, bad := range [][]byte{nil, {0x0d, 0x96}, {0x0d, 0x96, 0, 0, 0}} {
		if _, err := DecodeResponsePort(bad); !errors.Is(err, ErrAttribute) {
			t.Errorf("DecodeResponsePort(%x): %v, want ErrAttribute", bad, err)
		}
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		code   int
		reason string
		hex    string
	}{
		{300, "Try Alternate", "00000300 54727920 416c7465 726e6174 65"},
		{400, "Bad Request", "00000400 42616420 52657175 657374"},
		{420, "Unknown Attribute", "00000414 556e6b6e 6f776e20 41747472 69627574 65"},
		{699, "", "00000663"},
	}
	for _, tt := range tests {
		v := EncodeErrorCode(tt.code, tt.reason)
		if diff := cmp.Diff(unhex(t, tt.hex), v); diff != "" {
			t.Errorf("EncodeErrorCode(%d) (-want +got):\n%s", tt.code, diff)
		}
		code, reason, err := DecodeErrorCode(v)
		if err != nil || code != tt.code || reason != tt.reason {
			t.Errorf("DecodeErrorCode = %d %q %v; want %d %q", code, reason, err, tt.code, tt.reason)
		}
	}
	for _, bad := range [][]byte{nil, {0, 0, 4}, {0, 0, 2, 0}, {0, 0, 7, 0}, {0, 0, 4, 100}} {
		if _, _, err := DecodeErrorCode(bad); !errors.Is(err, ErrAttribute) {
			t.Errorf("DecodeErrorCode(%x): %v, want ErrAttribute", bad, err)
		}
	}
}

func TestMapped(t *testing.T) {
	xor, plain := ap("198.51.100.10:40000"), ap("198.51.100.10:41000")
	tests := []struct {
		name    string
		attrs   []Attribute
		want    netip.AddrPort
		wantXOR bool
		err     error
	}{
		{name: "XOR preferred", want: xor, wantXOR: true, attrs: []Attribute{
			{AttrMappedAddress, EncodeAddress(plain)}, {AttrXORMappedAddress, EncodeXORAddress(xor, tid)}}},
		{name: "RFC 3489 server", want: plain, attrs: []Attribute{{AttrMappedAddress, EncodeAddress(plain)}}},
		{name: "none", err: ErrNoAttribute},
		{name: "malformed", wantXOR: true, err: ErrAttribute,
			attrs: []Attribute{{AttrXORMappedAddress, []byte{0, 1, 0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Message{TransactionID: tid, Attributes: tt.attrs}
			got, isXOR, err := m.Mapped()
			if !errors.Is(err, tt.err) || got != tt.want || isXOR != tt.wantXOR {
				t.Errorf("Mapped = %v, %v, %v; want %v, %v, %v", got, isXOR, err, tt.want, tt.wantXOR, tt.err)
			}
		})
	}
}

func TestAddressAttribute(t *testing.T) {
	m := Message{Attributes: []Attribute{{AttrOtherAddress, EncodeAddress(ap("203.0.113.11:3479"))}}}
	if got, err := m.Address(AttrOtherAddress); err != nil || got != ap("203.0.113.11:3479") {
		t.Errorf("Address(OTHER-ADDRESS) = %v, %v", got, err)
	}
	if _, err := m.Address(AttrResponseOrigin); !errors.Is(err, ErrNoAttribute) {
		t.Errorf("Address(RESPONSE-ORIGIN): %v, want ErrNoAttribute", err)
	}
}
