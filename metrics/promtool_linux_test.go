package metrics

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/natp2p/natp2p/internal/promtest"
)

// TestPromtoolAcceptsOutput runs promtool check metrics (Prometheus'
// own parser and linter) on every golden input's output. It skips
// without promtool, and fails under NATP2P_REQUIRE_LAB=1 (CI).
func TestPromtoolAcceptsOutput(t *testing.T) {
	promtool := promtest.Promtool(t)
	for name, in := range map[string]Input{"full": full(), "snapshot": snapshot(), "probe failed": probeFailed()} {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(render(t, in))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", name, err, out)
		}
	}
}
