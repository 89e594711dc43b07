package metrics

import (
	"bytes"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

func render(t *testing.T, in Input) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"full.prom", full()},
		{"snapshot.prom", snapshot()},
		{"probe-failed.prom", probeFailed()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, render(t, tt.in))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, diff)
	}
}

// series is one parsed sample line.
type series struct {
	name   string
	labels map[string]string
	value  string
	raw    string // the labels as written
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// parse reads the sample lines of an exposition.
func parse(t *testing.T, page []byte) []series {
	t.Helper()
	var out []series
	for _, line := range strings.Split(strings.TrimSuffix(string(page), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a sample line: %q", line)
		}
		s := series{name: m[1], labels: map[string]string{}, value: m[3], raw: m[2]}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

// stateSets are the state sets: their state label and states.
var stateSets = map[string]struct {
	key    string
	states []string
}{
	"natp2p_check":                   {"verdict", Verdicts},
	"natp2p_report_source":           {"source", Sources},
	"natp2p_enforce_mode":            {"mode", Modes},
	"natp2p_probe_mapping":           {"behaviour", Behaviours},
	"natp2p_probe_filtering":         {"behaviour", Behaviours},
	"natp2p_probe_layer_mapping":     {"behaviour", Behaviours},
	"natp2p_probe_layer_filtering":   {"behaviour", Behaviours},
	"natp2p_probe_hairpin":           {"state", TriStates},
	"natp2p_probe_port_preservation": {"state", TriStates},
	"natp2p_probe_alg":               {"state", TriStates},
	"natp2p_probe_nat":               {"state", TriStates},
}

// TestStateSets checks that in every state set each group of series
// that differ only in the state label has every state, exactly one at 1.
func TestStateSets(t *testing.T) {
	for _, in := range []Input{full(), snapshot()} {
		states := map[string][]string{} // series without the state label -> its states
		ones := map[string]int{}
		for _, s := range parse(t, render(t, in)) {
			set, ok := stateSets[s.name]
			if !ok {
				continue
			}
			rest := map[string]string{}
			for n, v := range s.labels {
				if n != set.key {
					rest[n] = v
				}
			}
			id := s.name + fmtLabels(rest)
			states[id] = append(states[id], s.labels[set.key])
			if s.value == "1" {
				ones[id]++
			}
		}
		for id, got := range states {
			want := stateSets[strings.SplitN(id, "{", 2)[0]].states
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: states (-want +got):\n%s", id, diff)
			}
			if ones[id] != 1 {
				t.Errorf("%s: %d states at 1, want 1", id, ones[id])
			}
		}
	}
}

func fmtLabels(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// TestNoAddressInLabels checks that no label value is an IP address, an
// address and port, a MAC or a bare port number.
func TestNoAddressInLabels(t *testing.T) {
	for _, s := range parse(t, render(t, full())) {
		for n, v := range s.labels {
			_, errAddr := netip.ParseAddr(v)
			_, errAP := netip.ParseAddrPort(v)
			_, errMAC := net.ParseMAC(v)
			if errAddr == nil || errAP == nil || errMAC == nil || regexp.MustCompile(`^\d+$`).MatchString(v) {
				t.Errorf("%s: label %s=%q is an address, a port or a MAC", s.name, n, v)
			}
		}
	}
}

// TestChecksComplete checks that every check of the report is a state set.
func TestChecksComplete(t *testing.T) {
	in := full()
	got := map[string]int{}
	for _, s := range parse(t, render(t, in)) {
		if s.name == "natp2p_check" {
			got[s.labels["check"]]++
		}
	}
	if len(in.Report.Checks) != len(report.IDs()) {
		t.Fatalf("the fixture has %d checks, want every one of the report's %d", len(in.Report.Checks), len(report.IDs()))
	}
	for _, c := range in.Report.Checks {
		if got[c.ID] != len(Verdicts) {
			t.Errorf("check %s has %d series, want %d", c.ID, got[c.ID], len(Verdicts))
		}
	}
}

func TestOddValuesStayInTheirSets(t *testing.T) {
	in := snapshot()
	in.Report.Checks[0].Verdict = "MAYBE"
	in.Report.Probe = &report.Probes{LAN: &report.ProbeResult{Report: &probe.Report{Mapping: "odd"}}}
	page := string(render(t, in))
	for _, want := range []string{
		`natp2p_check{check="mapping.udp",verdict="unknown"} 1`,
		`natp2p_probe_mapping{vantage="lan",proto="udp",behaviour="unknown"} 1`,
		`natp2p_probe_mapping{vantage="lan",proto="tcp",behaviour="unknown"} 1`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("output lacks %s", want)
		}
	}
}

func TestEscaping(t *testing.T) {
	in := snapshot()
	in.Device = Device{Model: `a "quoted" \ model` + "\nx"}
	page := string(render(t, in))
	want := `model="a \"quoted\" \\ model\nx"`
	if !strings.Contains(page, want) {
		t.Errorf("output lacks %s:\n%s", want, page)
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", 1795334400.5: "1795334400.5", 0.0008: "0.0008", 1e6: "1000000"} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
}
