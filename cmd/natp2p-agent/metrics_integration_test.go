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
	"github.com/natp2p/natp2p/report"
)

// TestPrometheusAgreesWithReport: for each NAT profile, a real Prometheus
// in the router's namespace scrapes the daemon's metrics_listen, and
// PromQL gives the verdicts of report --json; promtool check metrics
// accepts natp2p-agent metrics.
func TestPrometheusAgreesWithReport(t *testing.T) {
	prom, promtool := lookTool(t, "prometheus"), lookTool(t, "promtool")
	for _, tt := range []struct {
		nat  lab.NAT
		want report.Verdict // mapping.udp
	}{{lab.Masquerade, report.Pass}, {lab.MasqueradeFullyRandom, report.Fail}} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			withEcho(t, l)
			a := startDaemon(t, l, "--metrics-listen", "127.0.0.1:9959")
			udp(t, l.LAN[0], netip.AddrPortFrom(l.LAN[0].Addr(), 40009), server(l, 0, 3478), server(l, 1, 3478))
			waitVerdict(t, a, report.IDMappingUDP, tt.want)
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
			waitFor(t, 60*time.Second, "Prometheus' verdicts to equal the report's", func() (bool, string) {
				r, _ := getReport(t, a)
				got, err := promVerdicts(l, promtool)
				want := map[string]string{}
				for _, c := range r.Checks {
					want[c.ID] = strings.ToLower(string(c.Verdict))
				}
				return err == nil && fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("prometheus %v (%v), report %v", got, err, want)
			})
		})
	}
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		labtest.Missing(t, name+" (Debian package prometheus)")
	}
	return path
}

// startPrometheus runs Prometheus in the router's namespace, scraping the
// daemon every second, its API on 127.0.0.1:9090 there.
func startPrometheus(t *testing.T, l *lab.Lab, bin string) {
	t.Helper()
	dir := t.TempDir()
	cfg := "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: natp2p\n    static_configs: [{targets: ['127.0.0.1:9959']}]\n"
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := l.Router.Start(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:9090", "--log.level=warn")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); l.Router.Wait(cmd) })
}

// promVerdicts asks Prometheus for natp2p_check == 1: each check's verdict.
func promVerdicts(l *lab.Lab, promtool string) (map[string]string, error) {
	cmd := l.Router.Command(context.Background(), promtool, "query", "instant", "-o", "json", "http://127.0.0.1:9090", `natp2p_check == 1`)
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
		got[s.Metric["check"]] = s.Metric["verdict"]
	}
	return got, nil
}
