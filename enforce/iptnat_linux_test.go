//go:build linux

package enforce

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestDecodeChain: a chain with a hook is a base chain.
func TestDecodeChain(t *testing.T) {
	hook := nested(unix.NFTA_CHAIN_HOOK, []netlink.Attribute{{Type: unix.NFTA_HOOK_HOOKNUM, Data: be32(0)}})
	for _, tt := range []struct {
		name  string
		attrs []netlink.Attribute
		base  bool
	}{
		{"base", []netlink.Attribute{{Type: unix.NFTA_CHAIN_TABLE, Data: cstr("nat")}, {Type: unix.NFTA_CHAIN_NAME, Data: cstr("PREROUTING")}, hook}, true},
		{"regular", []netlink.Attribute{{Type: unix.NFTA_CHAIN_TABLE, Data: cstr("nat")}, {Type: unix.NFTA_CHAIN_NAME, Data: cstr("NATP2P_PRE")}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := netlink.MarshalAttributes(tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			table, name, base, err := decodeChain(b)
			if err != nil || table != "nat" || name != string(tt.attrs[1].Data[:len(tt.attrs[1].Data)-1]) || base != tt.base {
				t.Errorf("decodeChain = %q %q %v, %v; want base %v", table, name, base, err, tt.base)
			}
		})
	}
}

// TestIPTFootprintOnlyOnNFT: iptables-nft's nat table is recorded and
// swept; iptables-legacy's chains are no nf_tables objects, and nothing
// is read or deleted.
func TestIPTFootprintOnlyOnNFT(t *testing.T) {
	for _, tt := range []struct {
		version string
		want    *NATTable
	}{
		{"iptables v1.8.9 (nf_tables)\n", &NATTable{Exists: true, Chains: []string{"POSTROUTING"}}},
		{"iptables v1.8.9 (legacy)\n", nil},
	} {
		f := newFakeIPT()
		f.out["/usr/sbin/iptables --version"] = tt.version
		b := f.backend(t, Rules{WAN: "wan0", Mapping: true})
		nat := &fakeNAT{exists: true, chains: map[string]int{"POSTROUTING": 1}, base: map[string]bool{"POSTROUTING": true, "PREROUTING": true}}
		b.nat = nat
		got, err := b.Footprint()
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("%s: Footprint = %+v, %v; want %+v", tt.version, got, err, tt.want)
		}
		nat.chains["PREROUTING"] = 0 // what the hairpin jump left
		if err := b.Sweep(NATTable{Exists: true, Chains: []string{"POSTROUTING"}}); err != nil {
			t.Fatal(err)
		}
		if swept := nat.deleted != nil; swept != (tt.want != nil) {
			t.Errorf("%s: deleted %v", tt.version, nat.deleted)
		}
	}
}
