package fleetsim

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/natp2p/natp2p/report"
)

func TestGenerate(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	a, err := Generate(500, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(500, 1, now)
	profiles, lines := map[string]int{}, map[string]int{}
	for i, r := range a {
		if r.Name != b[i].Name || r.Profile != b[i].Profile || string(r.Report) != string(b[i].Report) {
			t.Fatalf("router %d differs between two runs with one seed", i)
		}
		if err := report.Validate(r.Report); err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		if len(r.Verdicts) == 0 {
			t.Fatalf("%s: no verdicts", r.Name)
		}
		for check, v := range r.Verdicts {
			if !slices.Contains(Verdicts, v) {
				t.Errorf("%s: %s has verdict %q", r.Name, check, v)
			}
		}
		profiles[r.Profile]++
		lines[r.Model+" / "+r.Firmware]++
	}
	if len(profiles) != len(Profiles) || len(lines) != len(fleetLines) {
		t.Errorf("500 routers cover %d of %d profiles and %d of %d models and firmwares", len(profiles), len(Profiles), len(lines), len(fleetLines))
	}
}

// TestTable: every router counts once per check, every verdict of a
// model and firmware has a cell, and Diff finds a changed cell.
func TestTable(t *testing.T) {
	rs := []Router{
		{Model: "m", Firmware: "f1", Verdicts: map[string]string{"mapping.udp": "pass", "hairpin": "fail"}},
		{Model: "m", Firmware: "f1", Verdicts: map[string]string{"mapping.udp": "fail", "hairpin": "fail"}},
		{Model: "m", Firmware: "f2", Verdicts: map[string]string{"mapping.udp": "pass", "hairpin": "unknown"}},
	}
	tab := Table(rs)
	tests := []struct {
		cell Cell
		want int
	}{
		{Cell{"mapping.udp", "pass", "m", "f1"}, 1},
		{Cell{"mapping.udp", "fail", "m", "f1"}, 1},
		{Cell{"hairpin", "fail", "m", "f1"}, 2},
		{Cell{"hairpin", "pass", "m", "f1"}, 0},
		{Cell{"hairpin", "unknown", "m", "f2"}, 1},
		{Cell{"mapping.udp", "warn", "m", "f2"}, 0},
	}
	for _, tt := range tests {
		if got, ok := tab[tt.cell]; !ok || got != tt.want {
			t.Errorf("%s: %d (present %v), want %d", tt.cell, got, ok, tt.want)
		}
	}
	if len(tab) != 2*2*len(Verdicts) {
		t.Errorf("%d cells, want %d", len(tab), 2*2*len(Verdicts))
	}
	if d := Diff(tab, tab); len(d) != 0 {
		t.Errorf("Diff of a table with itself: %v", d)
	}
	got := Table(rs)
	got[Cell{"hairpin", "fail", "m", "f1"}] = 1
	delete(got, Cell{"mapping.udp", "warn", "m", "f2"})
	if d := Diff(tab, got); len(d) != 2 {
		t.Errorf("Diff: %v, want the changed and the missing cell", d)
	}
}

func TestByCheck(t *testing.T) {
	tab := map[Cell]int{
		{"hairpin", "pass", "m1", "f1"}: 2,
		{"hairpin", "pass", "m2", "f1"}: 3,
		{"hairpin", "fail", "m2", "f1"}: 0,
	}
	got := ByCheck(tab)
	want := map[Cell]int{{Check: "hairpin", Verdict: "pass"}: 5, {Check: "hairpin", Verdict: "fail"}: 0}
	if d := Diff(want, got); len(d) != 0 {
		t.Error(d)
	}
}

func TestRatiosAndDevices(t *testing.T) {
	rs := []Router{
		{Model: "m", Firmware: "f", Backend: "none", Verdicts: map[string]string{"hairpin": "pass", "alg": "unknown"}},
		{Model: "m", Firmware: "f", Backend: "nftables", Verdicts: map[string]string{"hairpin": "fail", "alg": "unknown"}},
		{Model: "m", Firmware: "f", Backend: "none", Verdicts: map[string]string{"hairpin": "warn", "alg": "unknown"}},
	}
	r := PassRatios(rs)
	if r["hairpin"] != 1.0/3 || !math.IsNaN(r["alg"]) || len(r) != 2 {
		t.Errorf("PassRatios: %v, want hairpin 1/3 and alg NaN (no router has a verdict)", r)
	}
	if got := CompliantRatio(rs); got != 2.0/3 {
		t.Errorf("CompliantRatio: %v, want 2/3", got)
	}
	d := Devices(rs)
	if d["m | f | none"] != 2 || d["m | f | nftables"] != 1 || len(d) != 2 {
		t.Errorf("Devices: %v", d)
	}
}
