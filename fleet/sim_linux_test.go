//go:build integration

package fleet

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/fleetsim"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// fleetSize is how many routers TestSimulatedFleet runs;
// NATP2P_FLEET_ROUTERS changes it.
func fleetSize(t *testing.T) int {
	n := 500
	if s := os.Getenv("NATP2P_FLEET_ROUTERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("NATP2P_FLEET_ROUTERS=%q", s)
		}
	}
	return n
}

// TestSimulatedFleet runs a fleet of 500 real natp2p-agent daemons, each
// replaying a report the lab produced for one NAT profile under a model
// and firmware of its own. One Prometheus scrapes them all with the
// shipped rules loaded; they push into victoria-metrics, where vmalert
// runs the same rules. The compliance table that the rules record, per
// check and verdict and per model and firmware too, must equal the
// generated fleet's in both, and so must the pass share per check, the
// share of compliant routers and the routers per model, firmware and
// backend.
func TestSimulatedFleet(t *testing.T) {
	bins := map[string]string{}
	for _, name := range []string{"prometheus", "victoria-metrics", "vmalert", "curl"} {
		path, err := exec.LookPath(name)
		if err != nil {
			labtest.Missing(t, name+" (scripts/deps.sh installs it)")
		}
		bins[name] = path
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	agent := buildAgent(t, dir)
	routers, err := fleetsim.Generate(fleetSize(t), 12, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := fleetsim.Table(routers)
	rules, err := fleetsim.FastRules(rulesFile, dir, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	vm := startServer(t, func() (*fleetsim.Server, error) {
		return fleetsim.StartVictoria(bins["victoria-metrics"], filepath.Join(dir, "vm"))
	})
	startServer(t, func() (*fleetsim.Server, error) {
		return fleetsim.StartVMAlert(bins["vmalert"], filepath.Join(dir, "vmalert"), vm.URL, rules)
	})
	f, err := fleetsim.StartFleet(fleetsim.FleetConfig{Agent: agent, Dir: filepath.Join(dir, "routers"), Routers: routers,
		Listen: true, PushURL: vm.URL + "/api/v1/import/prometheus", PushInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("stopping the fleet: %v", err)
		}
	})
	if err := f.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}
	if u, err := f.Usage(); err == nil {
		t.Logf("%d routers serving, %.1f MiB resident in all (%.1f MiB each)", len(routers), mib(u.RSS), mib(u.RSS)/float64(len(routers)))
	}
	prom := startServer(t, func() (*fleetsim.Server, error) {
		return fleetsim.StartPrometheus(bins["prometheus"], filepath.Join(dir, "prometheus"), f.Targets(), rules, 5*time.Second)
	})
	for _, s := range []*fleetsim.Server{prom, vm} {
		waitValue(ctx, t, s, "natp2p:routers_reporting:count", len(routers))
		waitTable(ctx, t, s, "natp2p:check_verdict_by_firmware:count", want)
		waitTable(ctx, t, s, "natp2p:check_verdict:count", fleetsim.ByCheck(want))
		waitRatios(ctx, t, s, routers)
		waitDevices(ctx, t, s, fleetsim.Devices(routers))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "natp2p-agent")
	build := exec.Command("go", "build", "-o", bin, "../cmd/natp2p-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building natp2p-agent: %v\n%s", err, out)
	}
	return bin
}

func startServer(t *testing.T, start func() (*fleetsim.Server, error)) *fleetsim.Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("%s: %s", s.Name, s.Log())
		}
	})
	return s
}

// waitValue waits until a query that gives one number gives want.
func waitValue(ctx context.Context, t *testing.T, s *fleetsim.Server, query string, want int) {
	t.Helper()
	var got float64
	var err error
	for {
		if got, err = fleetsim.QueryValue(ctx, s.URL, query); err == nil && got == float64(want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s is %v (%v), want %d", s.Name, query, got, err, want)
		case <-time.After(time.Second):
		}
	}
}

// waitTable waits until the compliance table a recording rule gives
// equals want, and fails with the cells that differ when it does not in
// time.
func waitTable(ctx context.Context, t *testing.T, s *fleetsim.Server, query string, want map[fleetsim.Cell]int) {
	t.Helper()
	var diff []string
	for {
		got, err := fleetsim.Query(ctx, s.URL, query)
		if err == nil {
			if diff = fleetsim.Diff(want, fleetsim.TableOf(got)); len(diff) == 0 {
				t.Logf("%s: %s has the fleet's %d cells", s.Name, query, len(want))
				return
			}
		} else {
			diff = []string{err.Error()}
		}
		select {
		case <-ctx.Done():
			if len(diff) > 20 {
				diff = append(diff[:20], fmt.Sprintf("... and %d more", len(diff)-20))
			}
			t.Fatalf("%s: %s differs from the fleet's truth:\n%v", s.Name, query, diff)
		case <-time.After(time.Second):
		}
	}
}

// waitRatios waits until the pass share per check and the share of
// compliant routers that the rules record are the fleet's.
func waitRatios(ctx context.Context, t *testing.T, s *fleetsim.Server, routers []fleetsim.Router) {
	t.Helper()
	want := fleetsim.PassRatios(routers)
	wantCompliant := fleetsim.CompliantRatio(routers)
	var diff []string
	for {
		diff = diff[:0]
		got, err := fleetsim.Query(ctx, s.URL, "natp2p:check_pass:ratio")
		if err != nil {
			diff = append(diff, err.Error())
		}
		seen := map[string]float64{}
		for _, g := range got {
			seen[g.Labels["check"]] = g.Value
		}
		for check, w := range want {
			if g, ok := seen[check]; !ok || !near(g, w) {
				diff = append(diff, fmt.Sprintf("natp2p:check_pass:ratio{check=%q}: %v, want %v", check, g, w))
			}
		}
		if len(seen) != len(want) {
			diff = append(diff, fmt.Sprintf("natp2p:check_pass:ratio: %d checks, want %d", len(seen), len(want)))
		}
		if c, err := fleetsim.QueryValue(ctx, s.URL, "natp2p:routers_compliant:ratio"); err != nil || !near(c, wantCompliant) {
			diff = append(diff, fmt.Sprintf("natp2p:routers_compliant:ratio: %v (%v), want %v", c, err, wantCompliant))
		}
		if len(diff) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s", s.Name, strings.Join(diff, "\n"))
		case <-time.After(time.Second):
		}
	}
}

func near(a, b float64) bool {
	return math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-9
}

// waitDevices waits until natp2p_device_info counts the fleet's routers
// per model, firmware and backend.
func waitDevices(ctx context.Context, t *testing.T, s *fleetsim.Server, want map[string]int) {
	t.Helper()
	const query = "count by (model, firmware, backend) (natp2p_device_info)"
	for {
		got, err := fleetsim.Query(ctx, s.URL, query)
		seen := map[string]int{}
		for _, g := range got {
			seen[g.Labels["model"]+" | "+g.Labels["firmware"]+" | "+g.Labels["backend"]] = int(g.Value)
		}
		if err == nil && fmt.Sprint(seen) == fmt.Sprint(want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s: %v (%v), want %v", s.Name, query, seen, err, want)
		case <-time.After(time.Second):
		}
	}
}
