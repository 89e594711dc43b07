//go:build linux

package enforce

import (
	"net/netip"
	"testing"
)

// TestPrefixIs: a network is a load, a mask and a comparison; a single
// address needs no mask, as nft writes it.
func TestPrefixIs(t *testing.T) {
	load := payload(1, 12, 4, regWide)
	for _, tt := range []struct {
		prefix string
		want   []rawExpr
	}{
		{"192.168.1.0/24", []rawExpr{load, and(regWide, []byte{255, 255, 255, 0}), compare(0, regWide, []byte{192, 168, 1, 0})}},
		{"10.0.0.0/8", []rawExpr{load, and(regWide, []byte{255, 0, 0, 0}), compare(0, regWide, []byte{10, 0, 0, 0})}},
		{"192.0.2.7/32", []rawExpr{load, compare(0, regWide, []byte{192, 0, 2, 7})}},
	} {
		got := prefixIs(load, netip.MustParsePrefix(tt.prefix))
		if len(got) != len(tt.want) {
			t.Fatalf("%s: %d expressions, want %d", tt.prefix, len(got), len(tt.want))
		}
		for i := range got {
			if string(got[i]) != string(tt.want[i]) {
				t.Errorf("%s: expression %d differs", tt.prefix, i)
			}
		}
	}
}
