package metrics

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadDevice(t *testing.T) {
	tests := []struct {
		root string
		want Device
	}{
		{"openwrt", Device{Model: "TP-Link Archer C7 v5", Firmware: "OpenWrt 24.10.0 r28427-6df0e3d02a"}},
		{"devicetree", Device{Model: "Raspberry Pi 4 Model B Rev 1.4"}},
		{"debian", Device{Firmware: "Debian GNU/Linux 12 (bookworm)"}},
		{"missing", Device{}},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			got := ReadDevice(filepath.Join("testdata", tt.root))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadDevice (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("é", 100)
	tests := map[string]string{
		"Model\x00":        "Model",
		"  a \t b\r\n":     "a b",
		long:               strings.Repeat("é", maxInfo/2),
		"x" + long:         "x" + strings.Repeat("é", (maxInfo-1)/2),
		"tab\there\x01end": "tab here end",
	}
	for in, want := range tests {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}
