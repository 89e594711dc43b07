//go:build linux

package agent

import "testing"

func TestKernelAtLeast(t *testing.T) {
	if !kernelAtLeast(2, 6) || kernelAtLeast(999, 0) {
		t.Errorf("kernelAtLeast(2, 6) = %v, kernelAtLeast(999, 0) = %v; want true, false", kernelAtLeast(2, 6), kernelAtLeast(999, 0))
	}
}

func TestReleaseAtLeast(t *testing.T) {
	for _, tt := range []struct {
		release      string
		major, minor int
		want         bool
	}{
		{"6.18.0-1-amd64", 4, 17, true},
		{"4.17.0", 4, 17, true},
		{"4.14.336", 4, 17, false},
		{"5.4", 4, 17, true},
		{"3.18.140-openwrt", 4, 17, false},
		{"4.9", 4, 17, false},
		{"10.0.1", 4, 17, true},
		{"", 4, 17, false},
		{"6", 4, 17, false},
		{"linux-6.1", 4, 17, false},
	} {
		if got := releaseAtLeast(tt.release, tt.major, tt.minor); got != tt.want {
			t.Errorf("releaseAtLeast(%q, %d, %d) = %v, want %v", tt.release, tt.major, tt.minor, got, tt.want)
		}
	}
}
