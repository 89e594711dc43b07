//go:build linux

package enforce

import (
	"encoding/binary"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

// The maps' elements: pins to keys and data, as the batch sends them, and
// back from a listing.

// keyBytes is an element's key (l4proto . ipv4_addr . inet_service); the
// layout: each field padded to 4 bytes, ports big-endian.
func keyBytes(p conntrackmap.Proto, ep netip.AddrPort) []byte {
	b := make([]byte, 12)
	b[0] = byte(p)
	a := ep.Addr().As4()
	copy(b[4:8], a[:])
	binary.BigEndian.PutUint16(b[8:10], ep.Port())
	return b
}

func dataBytes(ep netip.AddrPort) []byte { return keyBytes(0, ep)[4:] }

func pinElements(pins []Pin) []nftElem {
	els := make([]nftElem, len(pins))
	for i, p := range pins {
		els[i] = nftElem{keyBytes(p.Proto, p.Private), dataBytes(p.Public)}
	}
	return els
}

func revElements(pins []Pin) []nftElem {
	els := make([]nftElem, len(pins))
	for i, p := range pins {
		els[i] = nftElem{keyBytes(p.Proto, p.Public), dataBytes(p.Private)}
	}
	return els
}

func pinKeys(pins []Pin) []nftElem {
	els := pinElements(pins)
	for i := range els {
		els[i].val = nil
	}
	return els
}

func revKeys(pins []Pin) []nftElem {
	els := revElements(pins)
	for i := range els {
		els[i].val = nil
	}
	return els
}

func pinFromElement(e nftElem) (Pin, bool) {
	if len(e.key) != 12 || len(e.val) != 8 {
		return Pin{}, false
	}
	p := Pin{
		Proto:   conntrackmap.Proto(e.key[0]),
		Private: netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.key[4:8])), binary.BigEndian.Uint16(e.key[8:10])),
		Public:  netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.val[0:4])), binary.BigEndian.Uint16(e.val[4:6])),
	}
	return p, p.valid()
}

// decodeElements reads the elements of a set element list message's
// attributes.
func decodeElements(attrs []byte) ([]nftElem, error) {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return nil, err
	}
	var out []nftElem
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				var e nftElem
				list.Nested(func(el *netlink.AttributeDecoder) error {
					for el.Next() {
						switch el.Type() {
						case unix.NFTA_SET_ELEM_KEY:
							el.Nested(func(d *netlink.AttributeDecoder) error { e.key = dataValue(d); return nil })
						case unix.NFTA_SET_ELEM_DATA:
							el.Nested(func(d *netlink.AttributeDecoder) error { e.val = dataValue(d); return nil })
						}
					}
					return nil
				})
				out = append(out, e)
			}
			return nil
		})
	}
	return out, ad.Err()
}

// dataValue reads NFTA_DATA_VALUE from a nested nft_data.
func dataValue(d *netlink.AttributeDecoder) []byte {
	var v []byte
	for d.Next() {
		if d.Type() == unix.NFTA_DATA_VALUE {
			v = append([]byte(nil), d.Bytes()...)
		}
	}
	return v
}
