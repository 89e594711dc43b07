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

// The rules and pins of the golden files: hairpinning on one LAN with
// mapping, two pins installed, one moved.
var (
	seamRules = Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: seamLAN, Mapping: true, Hairpin: true}
	seamLAN   = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	seamPins  = []Pin{
		{conntrackmap.UDP, netip.MustParseAddrPort("192.168.1.20:5000"), netip.MustParseAddrPort("203.0.113.1:40000")},
		{conntrackmap.TCP, netip.MustParseAddrPort("192.168.1.21:6000"), netip.MustParseAddrPort("203.0.113.1:41000")},
	}
)

// TestNFTSends compares what each call sends, message by message and byte
// by byte, with testdata/nft_*.txt.
func TestNFTSends(t *testing.T) {
	moved := seamPins[0]
	moved.Public = netip.MustParseAddrPort("203.0.113.1:40100")
	for _, tt := range []struct {
		golden string
		rules  Rules
		call   func(*NFT) error
	}{
		{"nft_install.txt", seamRules, func(n *NFT) error { return n.Install(seamPins) }},
		{"nft_install_hairpin_only.txt", Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: seamLAN, Hairpin: true},
			func(n *NFT) error { return n.Install(seamPins[:1]) }},
		{"nft_update.txt", seamRules, func(n *NFT) error { return n.Update([]Pin{moved}, seamPins[:1]) }},
		{"nft_remove.txt", seamRules, func(n *NFT) error { return n.Remove() }},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			r := newNFTRecorder(t)
			if err := tt.call(r.backend(tt.rules)); err != nil {
				t.Fatal(err)
			}
			got := r.render(t)
			if diff := cmp.Diff(golden(t, tt.golden, got), got); diff != "" {
				t.Errorf("sent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNFTInstalled: the table, the learn chain and every rule of the
// other chains, read with one request each.
func TestNFTInstalled(t *testing.T) {
	all := map[string]int{nftPostrouting: 3, nftPrerouting: 1, nftLearn: 2}
	without := func(chain string, n int) map[string]int {
		m := map[string]int{}
		for k, v := range all {
			m[k] = v
		}
		if n < 0 {
			delete(m, chain)
		} else {
			m[chain] = n
		}
		return m
	}
	for _, tt := range []struct {
		name   string
		tables []string
		rules  map[string]int
		want   bool
	}{
		{"installed", []string{"fw4", NFTTable}, all, true},
		{"no table", []string{"fw4"}, all, false},
		{"no learn chain", []string{NFTTable}, without(nftLearn, -1), false},
		{"a rule missing", []string{NFTTable}, without(nftPostrouting, 2), false},
		{"no prerouting chain", []string{NFTTable}, without(nftPrerouting, -1), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newNFTRecorder(t)
			r.answer = nftKernel(tt.tables, tt.rules, nil)
			if ok, err := r.backend(seamRules).Installed(); ok != tt.want || err != nil {
				t.Errorf("Installed() = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
	r := newNFTRecorder(t)
	r.answer = nftKernel([]string{NFTTable}, all, nil)
	r.backend(Rules{WAN: "wan0", Mapping: true}).Installed()
	want := `sendmsg
  GETTABLE request|dump nfgenmsg=02000000
sendmsg
  GETCHAIN request nfgenmsg=02000000
    1 table "natp2p\x00"
    3 name "learn\x00"
sendmsg
  GETRULE request|dump nfgenmsg=02000000
    1 table "natp2p\x00"
    2 chain "postrouting\x00"
`
	if diff := cmp.Diff(want, r.render(t)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestNFTPins reads the pins map's elements, sorted; none without the
// table.
func TestNFTPins(t *testing.T) {
	r := newNFTRecorder(t)
	r.answer = nftKernel([]string{NFTTable}, nil, []Pin{seamPins[1], seamPins[0]})
	pins, err := r.backend(seamRules).Pins()
	want := append([]Pin(nil), seamPins...)
	sortPins(want)
	if err != nil || !cmp.Equal(pins, want, equateNet) {
		t.Errorf("Pins() = %v, %v; want %v", pins, err, want)
	}
	r.answer = nftKernel(nil, nil, seamPins)
	if pins, err := r.backend(seamRules).Pins(); pins != nil || err != nil {
		t.Errorf("Pins() without the table = %v, %v; want none", pins, err)
	}
}

// TestNFTBatches: an Install too large for one sendmsg goes as several
// transactions, each framed by BATCH_BEGIN and BATCH_END, and only the
// last message of each asks for an acknowledgement.
func TestNFTBatches(t *testing.T) {
	r := newNFTRecorder(t)
	if err := r.backend(seamRules).Install(manyPinsOf(5000)); err != nil {
		t.Fatal(err)
	}
	if len(r.sent) < 3 {
		t.Fatalf("%d transactions, want the pins' split in two and the learn rules'", len(r.sent))
	}
	for i, msgs := range r.sent {
		size := 0
		for j, m := range msgs {
			acks := m.Header.Flags&netlink.Acknowledge != 0
			if want := j == len(msgs)-2; acks != want {
				t.Errorf("transaction %d, message %d of %d: acknowledgement %v, want %v", i, j, len(msgs), acks, want)
			}
			size += len(m.Data)
		}
		if first, last := msgs[0].Header.Type, msgs[len(msgs)-1].Header.Type; first != unix.NFNL_MSG_BATCH_BEGIN || last != unix.NFNL_MSG_BATCH_END {
			t.Errorf("transaction %d: %s ... %s", i, msgType(first), msgType(last))
		}
		if size > nftBatchBytes {
			t.Errorf("transaction %d: %d bytes", i, size)
		}
	}
}

// manyPinsOf returns n UDP pins of distinct endpoints.
func manyPinsOf(n int) []Pin {
	pins := make([]Pin, n)
	for i := range pins {
		priv := netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)})
		pins[i] = Pin{conntrackmap.UDP, netip.AddrPortFrom(priv, 5000), netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 1}), uint16(10000+i))}
	}
	return pins
}
