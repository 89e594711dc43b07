package fleet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const (
	rulesFile     = "natp2p.rules.yml"
	dashboardFile = "grafana/natp2p-fleet.json"
)

var (
	seriesName = regexp.MustCompile(`\bnatp2p_[a-z0-9_]+`)
	ruleName   = regexp.MustCompile(`\bnatp2p:[a-z0-9_:]+`)
	recordLine = regexp.MustCompile(`(?m)^\s*- record: (\S+)`)
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// documented are the series docs/metrics.md lists.
func documented(t *testing.T) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, line := range strings.Split(read(t, filepath.Join("..", "docs", "metrics.md")), "\n") {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ = strings.Cut(name, "`")
			m[name] = true
		}
	}
	if len(m) < 20 {
		t.Fatalf("docs/metrics.md lists %d series: its table was not found", len(m))
	}
	return m
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(read(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// exprs are the dashboard's PromQL queries, by panel title.
func (d dashboard) exprs() map[string][]string {
	m := map[string][]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			m[p.Title] = append(m[p.Title], tg.Expr)
		}
	}
	return m
}

// TestAssetsUseDocumentedSeries: every natp2p_ series the rules and the
// dashboard query is in docs/metrics.md, and every recorded series the
// dashboard or the alerts query is recorded by the rules.
func TestAssetsUseDocumentedSeries(t *testing.T) {
	docs := documented(t)
	rules := read(t, rulesFile)
	recorded := map[string]bool{}
	for _, m := range recordLine.FindAllStringSubmatch(rules, -1) {
		recorded[m[1]] = true
	}
	d := readDashboard(t)
	texts := map[string]string{rulesFile: rules}
	for title, es := range d.exprs() {
		texts[dashboardFile+": "+title] = strings.Join(es, "\n")
	}
	for _, v := range d.Templating.List {
		texts[dashboardFile+": variable "+v.Name] = v.Definition
	}
	for where, text := range texts {
		for _, name := range seriesName.FindAllString(text, -1) {
			if !docs[name] {
				t.Errorf("%s: %s is not in docs/metrics.md", where, name)
			}
		}
		for _, name := range ruleName.FindAllString(text, -1) {
			if !recorded[name] {
				t.Errorf("%s: %s is not recorded by %s", where, name, rulesFile)
			}
		}
	}
}

// TestDashboardShape: panels have queries, the variables the queries use
// exist.
func TestDashboardShape(t *testing.T) {
	d := readDashboard(t)
	vars := map[string]bool{"__rate_interval": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	n := 0
	for title, es := range d.exprs() {
		for _, e := range es {
			n++
			for _, m := range regexp.MustCompile(`\$(\w+)`).FindAllStringSubmatch(e, -1) {
				if !vars[m[1]] {
					t.Errorf("panel %q uses $%s, which is no variable", title, m[1])
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("the dashboard has %d queries", n)
	}
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
