package fleet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natp2p/natp2p/internal/promtest"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtest.Promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestRules checks the rules and runs their unit tests on the simulated
// fleet of rules_test.yml.
func TestRules(t *testing.T) {
	promtool(t, "check", "rules", rulesFile)
	promtool(t, "test", "rules", "rules_test.yml")
}

// TestDashboardQueriesParse has Prometheus parse every query of the
// dashboard, as recording rules of a throwaway rules file, with Grafana's
// variables filled in.
func TestDashboardQueriesParse(t *testing.T) {
	fill := strings.NewReplacer("$instance", "router1", "$model", ".*", "$__rate_interval", "5m")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	exprs := readDashboard(t).exprs()
	i := 0
	for _, title := range sortedKeys(exprs) {
		for _, e := range exprs[title] {
			i++
			fmt.Fprintf(&b, "      # %s\n      - record: dashboard:query%d\n        expr: %q\n", title, i, fill.Replace(e))
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", path)
}
