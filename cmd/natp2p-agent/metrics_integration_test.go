//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/internal/labagent"
	"github.com/natp2p/natp2p/report"
)

// The servers the metrics tests run in the router's namespace.
const (
	promAPI   = "http://127.0.0.1:9090"
	vmAPI     = "http://127.0.0.1:8428"
	scrapeURL = "127.0.0.1:9959"
)

// TestMetricsAgreeWithReport: for each NAT profile of the lab, a real
// Prometheus in the router's namespace scrapes the daemon's
// metrics_listen, the daemon pushes into a real victoria-metrics there,
// and PromQL on both gives exactly the verdicts of report --json;
// promtool check metrics accepts natp2p-agent metrics.
func TestMetricsAgreeWithReport(t *testing.T) {
	prom, promtool, vm := lookTool(t, "prometheus", "prometheus"), lookTool(t, "promtool", "prometheus"),
		lookTool(t, "victoria-metrics", "victoria-metrics")
	if _, err := exec.LookPath("curl"); err != nil {
		labtest.Missing(t, "curl (Debian package curl)")
	}
	for _, nat := range []lab.NAT{lab.Masquerade, lab.MasqueradeFullyRandom, lab.SNATPool, lab.NoNAT, lab.DMZ, lab.DoubleNAT} {
		t.Run(string(nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: nat})
			withEcho(t, l)
			startServer(t, l, vm, "-storageDataPath="+filepath.Join(t.TempDir(), "vm"), "-httpListenAddr=127.0.0.1:8428",
				"-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR")
			a := startDaemon(t, l, "--metrics-listen", scrapeURL, "--metrics-push", vmAPI+"/api/v1/import/prometheus",
				"--metrics-push-interval", "10s", "--metrics-push-labels", "instance=lab-router,profile="+string(nat),
				"--metrics-push-client", "curl")
			udp(t, l.LAN[0], netip.AddrPortFrom(l.LAN[0].Addr(), 40009), server(l, 0, 3478), server(l, 1, 3478))
			page, stderr, code, err := a.Run(context.Background(), "metrics", "--socket", a.Socket)
			if err != nil || code != 0 {
				t.Fatalf("natp2p-agent metrics: exit %d, %v: %s", code, err, stderr)
			}
			check := exec.Command(promtool, "check", "metrics")
			check.Stdin = strings.NewReader(page)
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
			startPrometheus(t, l, prom)
			for _, src := range []struct{ name, api, query string }{
				{"prometheus", promAPI, `natp2p_check == 1`},
				{"victoria-metrics", vmAPI, `natp2p_check{instance="lab-router",profile="` + string(nat) + `"} == 1`},
			} {
				waitFor(t, 90*time.Second, src.name+"'s verdicts to equal the report's", func() (bool, string) {
					return agree(t, l, a, promtool, src.api, src.query)
				})
			}
		})
	}
}

// agree reports whether the verdicts the query gives equal those of
// report --json, taken before and after it and equal.
func agree(t *testing.T, l *lab.Lab, a *labagent.Agent, promtool, api, query string) (bool, string) {
	before := verdicts(t, a)
	got, err := queryVerdicts(l, promtool, api, query)
	after := verdicts(t, a)
	ok := err == nil && fmt.Sprint(before) == fmt.Sprint(after) && fmt.Sprint(got) == fmt.Sprint(after)
	return ok, fmt.Sprintf("%s gives %v (%v), the report %v then %v", api, got, err, before, after)
}

// verdicts are report --json's verdicts by check ID, in lower case.
func verdicts(t *testing.T, a *labagent.Agent) map[string]string {
	r, _ := getReport(t, a)
	want := map[string]string{}
	for _, c := range r.Checks {
		want[c.ID] = strings.ToLower(string(c.Verdict))
	}
	return want
}

func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		labtest.Missing(t, name+" (Debian package "+pkg+")")
	}
	return path
}

// startServer runs bin in the router's namespace until the test ends.
func startServer(t *testing.T, l *lab.Lab, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := l.Router.Start(ctx, bin, args...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); l.Router.Wait(cmd) })
}

// startPrometheus runs Prometheus in the router's namespace, scraping the
// daemon every second, its API on promAPI there.
func startPrometheus(t *testing.T, l *lab.Lab, bin string) {
	t.Helper()
	dir := t.TempDir()
	cfg := "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: natp2p\n    static_configs: [{targets: ['" + scrapeURL + "']}]\n"
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startServer(t, l, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:9090", "--log.level=warn")
}

// queryVerdicts runs a PromQL query selecting natp2p_check series at 1
// on the server at api: each check's verdict.
func queryVerdicts(l *lab.Lab, promtool, api, query string) (map[string]string, error) {
	cmd := l.Router.Command(context.Background(), promtool, "query", "instant", "-o", "json", api, query)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var series []struct {
		Metric map[string]string `json:"metric"`
	}
	if err := json.Unmarshal(out.Bytes(), &series); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out.String())
	}
	got := map[string]string{}
	for _, s := range series {
		if _, dup := got[s.Metric["check"]]; dup {
			return nil, fmt.Errorf("two verdicts at 1 for %s", s.Metric["check"])
		}
		got[s.Metric["check"]] = s.Metric["verdict"]
	}
	if len(got) != len(report.IDs()) {
		return got, fmt.Errorf("%d checks, want %d", len(got), len(report.IDs()))
	}
	return got, nil
}
