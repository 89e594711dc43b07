package metrics

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natp2p/natp2p/internal/docsync"
)

// docPath is the page that lists every series.
var docPath = filepath.Join("..", "docs", "metrics.md")

const (
	docBegin = "<!-- series: begin (generated from metrics.Write by go test ./metrics -update) -->\n"
	docEnd   = "<!-- series: end -->\n"
)

// freeLabels are the labels whose values the table does not list.
var freeLabels = map[string]string{"check": "a check ID of docs/report.md", "model": "the board",
	"firmware": "the firmware release", "version": "natp2p's version", "goversion": "Go's version",
	"backend": "nftables, iptables or none"}

// TestDocListsEverySeries keeps docs/metrics.md's table in step with what
// Write prints: every family of the fullest output, its type, unit, labels
// and HELP. Run go test ./metrics -update to regenerate it.
func TestDocListsEverySeries(t *testing.T) {
	docsync.Section(t, docPath, docBegin, docEnd, docTable(t), *update, "run go test ./metrics -update")
}

// docTable writes the table of the series Write prints for the full input.
func docTable(t *testing.T) string {
	t.Helper()
	page := render(t, full())
	var b strings.Builder
	b.WriteString("| series | type | unit | labels | meaning |\n|---|---|---|---|---|\n")
	samples := parse(t, page)
	for _, line := range strings.Split(string(page), "\n") {
		name, help, ok := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
		if !ok || !strings.HasPrefix(line, "# HELP ") {
			continue
		}
		typ := typeOf(t, page, name)
		if _, set := stateSets[name]; set {
			typ += " (state set)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", name, typ, unit(name), labels(name, samples), help)
	}
	fmt.Fprintf(&b, "\nSeries per router: %d in enforce mode with both probes (the table above), %d for a snapshot in observe mode.\n",
		len(samples), len(parse(t, render(t, snapshot()))))
	return b.String()
}

func typeOf(t *testing.T, page []byte, name string) string {
	t.Helper()
	for _, line := range strings.Split(string(page), "\n") {
		if typ, ok := strings.CutPrefix(line, "# TYPE "+name+" "); ok {
			return typ
		}
	}
	t.Fatalf("%s has no TYPE line", name)
	return ""
}

// unit is the base unit a name ends in, "1" for _info and "—" for counts.
func unit(name string) string {
	switch {
	case strings.HasSuffix(name, "_seconds"):
		return "seconds"
	case strings.HasSuffix(name, "_info"):
		return "1 (metadata)"
	}
	return "—"
}

// labels lists a family's labels in order, with their values where they
// are a fixed set.
func labels(name string, samples []series) string {
	var order []string
	values := map[string][]string{}
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for _, l := range labelOrder(s) {
			if _, ok := values[l]; !ok {
				order = append(order, l)
			}
			if !contains(values[l], s.labels[l]) {
				values[l] = append(values[l], s.labels[l])
			}
		}
	}
	var parts []string
	for _, l := range order {
		if free, ok := freeLabels[l]; ok {
			parts = append(parts, fmt.Sprintf("`%s` (%s)", l, free))
			continue
		}
		parts = append(parts, fmt.Sprintf("`%s`: %s", l, strings.Join(values[l], ", ")))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "; ")
}

// labelOrder is the order of a sample's labels as written.
func labelOrder(s series) []string {
	var out []string
	for _, m := range labelPair.FindAllStringSubmatch(s.raw, -1) {
		out = append(out, m[1])
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestOutputIsDocumented checks that every family the other inputs print
// is in the full input's output too, so in the doc.
func TestOutputIsDocumented(t *testing.T) {
	documented := map[string]bool{}
	for _, s := range parse(t, render(t, full())) {
		documented[s.name] = true
	}
	for _, in := range []Input{snapshot(), probeFailed()} {
		for _, s := range parse(t, render(t, in)) {
			if !documented[s.name] {
				t.Errorf("%s is printed for %s but not for the full input", s.name, in.Report.Source)
			}
		}
	}
}
