//go:build linux

package enforce

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

// The concatenated types nft prints as "inet_proto . ipv4_addr .
// inet_service" and "ipv4_addr . inet_service".
func TestConcatType(t *testing.T) {
	if got := concatType(nftTypeInetProto, nftTypeIPAddr, nftTypeInetService); got != 12<<12|7<<6|13 {
		t.Errorf("key type = %#x", got)
	}
	if got := concatType(nftTypeIPAddr, nftTypeInetService); got != 7<<6|13 {
		t.Errorf("data type = %#x", got)
	}
}

// An element list as the batch encodes it reads back the same: the
// kernel lists elements in that layout.
func TestElementsRoundTrip(t *testing.T) {
	pins := []Pin{
		{conntrackmap.UDP, netip.MustParseAddrPort("192.168.1.20:5000"), netip.MustParseAddrPort("203.0.113.1:40000")},
		{conntrackmap.TCP, netip.MustParseAddrPort("192.168.1.21:6000"), netip.MustParseAddrPort("203.0.113.1:65535")},
	}
	var b nftBatch
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(pins))
	b.elements(unix.NFT_MSG_DELSETELEM, NFTTable, nftPins, nil) // nothing to send
	if b.err != nil || len(b.msgs) != 1 {
		t.Fatalf("batch: %d messages, %v; want 1", len(b.msgs), b.err)
	}
	els, err := decodeElements(b.msgs[0].Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	var got []Pin
	for _, e := range els {
		p, ok := pinFromElement(e)
		if !ok {
			t.Fatalf("element %x : %x is no pin", e.key, e.val)
		}
		got = append(got, p)
	}
	if !cmp.Equal(got, pins, equateNet) {
		t.Errorf("read back %v, want %v", got, pins)
	}
	if keys, _ := decodeElements(func() []byte {
		var d nftBatch
		d.elements(unix.NFT_MSG_DELSETELEM, NFTTable, nftPins, pinKeys(pins))
		return d.msgs[0].Data[4:]
	}()); len(keys) != 2 || keys[0].val != nil {
		t.Errorf("deletion elements = %v, want two keys without data", keys)
	}
}

// Element lists go nftChunk to a message: a netlink attribute holds 64 KiB.
func TestElementsChunked(t *testing.T) {
	var b nftBatch
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, make([]nftElem, 2*nftChunk+1))
	if b.err != nil || len(b.msgs) != 3 {
		t.Fatalf("%d elements: %d messages, %v; want 3", 2*nftChunk+1, len(b.msgs), b.err)
	}
	var big nftBatch
	big.add(unix.NFT_MSG_NEWSETELEM, 0, []netlink.Attribute{{Type: 1, Data: make([]byte, maxAttr+1)}})
	if big.err == nil {
		t.Error("an attribute over 64 KiB: no error")
	}
}
