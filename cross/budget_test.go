package cross

import (
	"os"
	"os/exec"
	"regexp"
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

// owrtRow matches the size table's line for the OpenWrt-style mipsle build.
var owrtRow = regexp.MustCompile(`(?m)^mipsle-owrt +mipsle +GOMIPS=softfloat +(musl cgo, go1\.\S+ +\d+ +\d+ +checked|not built: .*)$`)

// TestSizeBudget holds natp2p-agent for mipsle to its budget (5 MB
// stripped, 2 MB gzip'd): the static build that make ipk ships and, when
// a mipsel musl compiler is here, the build OpenWrt's feed makes (cgo,
// musl); and checks that a broken budget fails the build.
func TestSizeBudget(t *testing.T) {
	out, err := budget(t)
	if err != nil {
		t.Fatalf("mipsle breaks its size budget: %v\n%s", err, out)
	}
	t.Log("\n" + out)
	if !regexp.MustCompile(`(?m)^mipsle +mipsle .* checked$`).MatchString(out) {
		t.Errorf("the static mipsle build was not checked against the budget:\n%s", out)
	}
	m := owrtRow.FindStringSubmatch(out)
	switch _, lookErr := exec.LookPath("mipsel-linux-musl-gcc"); {
	case m == nil:
		t.Errorf("no mipsle-owrt row:\n%s", out)
	case lookErr == nil && strings.HasPrefix(m[1], "not built"):
		t.Errorf("mipsel-linux-musl-gcc is here but mipsle-owrt was not built:\n%s", out)
	case lookErr != nil:
		t.Logf("mipsle-owrt not built (no mipsel-linux-musl-gcc): only the static build is budgeted")
	}
	out, err = budget(t, "BUDGET_BYTES=1000000")
	if err == nil || !strings.Contains(out, "budget broken: mipsle") {
		t.Errorf("a 1 MB budget did not fail the build:\n%s", out)
	}
}
