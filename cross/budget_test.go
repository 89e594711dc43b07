package cross

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// budget runs build.sh for mipsle with extra environment.
func budget(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "build.sh")
	cmd.Env = append(os.Environ(), append([]string{"CROSS_TARGETS=mipsle", "NATP2P_DIST=" + t.TempDir()}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSizeBudget holds natp2p-agent for mipsle to its budget (5 MB
// stripped, 2 MB gzip'd), and checks that a broken budget fails the build.
func TestSizeBudget(t *testing.T) {
	out, err := budget(t)
	if err != nil {
		t.Fatalf("mipsle breaks its size budget: %v\n%s", err, out)
	}
	t.Log("\n" + out)
	out, err = budget(t, "BUDGET_BYTES=1000000")
	if err == nil || !strings.Contains(out, "budget broken: mipsle") {
		t.Errorf("a 1 MB budget did not fail the build:\n%s", out)
	}
}
