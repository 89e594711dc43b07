package stun

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse checks that Parse never panics, that every decoder survives
// every attribute value, and that what Parse accepts survives Marshal:
// Marshal(Parse(b)) parses again to an equal message of the same length.
// Padding bytes are written as zeros, so a FINGERPRINT is recomputed
// rather than copied (its old value covers the old padding bytes).
func FuzzParse(f *testing.F) {
	for _, v := range []string{rfc5769Request, rfc5769IPv4Response, rfc5769IPv6Response, rfc5769LongTermRequest} {
		f.Add(unhex(f, v))
	}
	f.Add((&Message{Type: TypeBindingRequest, TransactionID: tid}).Marshal(false))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		decodeAll(m)
		again, fp := remarshal(m)
		if len(again) != len(b) {
			t.Fatalf("Marshal(Parse(b)) is %d bytes, b is %d", len(again), len(b))
		}
		m2, err := Parse(again)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(b))): %v\nb=%x\nagain=%x", err, b, again)
		}
		if fp {
			m2.Attributes[len(m2.Attributes)-1].Value = m.Attributes[len(m.Attributes)-1].Value
		}
		if diff := cmp.Diff(m, m2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-parsed +reparsed):\n%s", diff)
		}
	})
}

// remarshal encodes m again; a trailing FINGERPRINT is recomputed.
func remarshal(m *Message) (b []byte, fp bool) {
	c := *m
	if n := len(c.Attributes); n > 0 && c.Attributes[n-1].Type == AttrFingerprint {
		c.Attributes, fp = c.Attributes[:n-1], true
	}
	return c.Marshal(fp), fp
}

// decodeAll runs every decoder on every attribute; none may panic.
func decodeAll(m *Message) {
	for _, a := range m.Attributes {
		_, _ = DecodeAddress(a.Value)
		_, _ = DecodeXORAddress(a.Value, m.TransactionID)
		_, _ = DecodeChangeRequest(a.Value)
		_, _ = DecodeResponsePort(a.Value)
		_, _, _ = DecodeErrorCode(a.Value)
	}
	_, _, _ = m.Mapped()
	_, _ = m.Address(AttrOtherAddress)
	_ = m.String()
}

// FuzzAddress checks that the address codecs round trip both ways: any
// address encodes and decodes to itself (IPv4-mapped IPv6 addresses are
// sent as IPv4, zones dropped), and any value that decodes encodes to the
// same bytes, except the reserved first byte and IPv6-family values that
// hold IPv4-mapped addresses (which encode as IPv4).
func FuzzAddress(f *testing.F) {
	f.Add(EncodeAddress(ap("192.0.2.1:32853")), tid[:])
	f.Add(EncodeAddress(ap("[2001:db8::1]:3478")), tid[:])
	f.Add(EncodeXORAddress(ap("[2001:db8:1234:5678:11:2233:4455:6677]:32853"), tid), []byte{})
	f.Fuzz(func(t *testing.T, v, id []byte) {
		var txid [12]byte
		copy(txid[:], id)
		roundTripValue(t, v, txid)
		roundTripAddr(t, addrFrom(v), txid)
	})
}

func roundTripValue(t *testing.T, v []byte, txid [12]byte) {
	keepsBytes := func(a netip.AddrPort) bool { return v[0] == 0 && !a.Addr().Is4In6() }
	if a, err := DecodeAddress(v); err == nil && keepsBytes(a) && !bytes.Equal(EncodeAddress(a), v) {
		t.Fatalf("EncodeAddress(DecodeAddress(%x)) = %x", v, EncodeAddress(a))
	}
	if a, err := DecodeXORAddress(v, txid); err == nil && keepsBytes(a) {
		if got := EncodeXORAddress(a, txid); !bytes.Equal(got, v) {
			t.Fatalf("EncodeXORAddress(DecodeXORAddress(%x)) = %x", v, got)
		}
	}
}

func roundTripAddr(t *testing.T, a netip.AddrPort, txid [12]byte) {
	want := netip.AddrPortFrom(a.Addr().Unmap().WithZone(""), a.Port())
	if got, err := DecodeAddress(EncodeAddress(a)); err != nil || got != want {
		t.Fatalf("DecodeAddress(EncodeAddress(%v)) = %v, %v", a, got, err)
	}
	if got, err := DecodeXORAddress(EncodeXORAddress(a, txid), txid); err != nil || got != want {
		t.Fatalf("DecodeXORAddress(EncodeXORAddress(%v)) = %v, %v", a, got, err)
	}
}

// addrFrom makes an address from fuzz bytes: 2 bytes of port, then 16
// bytes of IPv6 address or 4 of IPv4.
func addrFrom(v []byte) netip.AddrPort {
	var b [18]byte
	copy(b[:], v)
	port := uint16(b[0])<<8 | uint16(b[1])
	if len(v) >= 18 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[2:18])), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[2:6])), port)
}
