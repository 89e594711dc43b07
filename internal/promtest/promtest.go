//go:build linux

// Package promtest finds Prometheus' promtool for tests that check
// natp2p's metrics and rules with it.
package promtest

import (
	"os/exec"
	"testing"

	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// Promtool returns promtool's path. When it is not installed (Debian
// package prometheus; scripts/deps.sh installs it) it skips t, or fails
// it under NATP2P_REQUIRE_LAB=1, as CI runs.
func Promtool(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		labtest.Missing(t, "promtool (Debian package prometheus)")
	}
	return path
}
