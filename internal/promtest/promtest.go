//go:build linux

// Package promtest finds Prometheus' promtool and runs the monitoring
// servers for tests that check natp2p's metrics and rules with them.
package promtest

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
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

// Start runs the server bin with args (Prometheus, victoria-metrics) until
// t ends, and logs what it wrote on stderr when t failed.
func Start(t testing.TB, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s: %s", filepath.Base(bin), stderr.String())
		}
	})
}

// FreeAddr returns a loopback address whose TCP port was free a moment
// ago, for a server the test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
