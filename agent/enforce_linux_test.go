//go:build linux

package agent

import "testing"

func TestKernelAtLeast(t *testing.T) {
	if !kernelAtLeast(2, 6) || kernelAtLeast(999, 0) {
		t.Errorf("kernelAtLeast(2, 6) = %v, kernelAtLeast(999, 0) = %v; want true, false", kernelAtLeast(2, 6), kernelAtLeast(999, 0))
	}
}
