package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/httpd"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/internal/promtest"
)

// TestPrometheusScrapes has a real Prometheus scrape the metrics through
// internal/httpd, and checks that PromQL gives the report's verdicts
// back: Prometheus' own scraper and parser accept both the responder and
// the page.
func TestPrometheusScrapes(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		labtest.Missing(t, "prometheus (Debian package prometheus)")
	}
	in := full()
	target := serve(t, in)
	api := startPrometheus(t, bin, target)
	for _, c := range in.Report.Checks {
		q := fmt.Sprintf(`natp2p_check{check=%q} == 1`, c.ID)
		got := waitQuery(t, api, q)
		if want := strings.ToLower(string(c.Verdict)); len(got) != 1 || got[0]["verdict"] != want {
			t.Errorf("%s: %v, want one series with verdict %s", q, got, want)
		}
	}
	if got := waitQuery(t, api, `up{job="natp2p"} == 1`); len(got) != 1 {
		t.Errorf("up: %v", got)
	}
}

// serve answers GET /metrics with in's page on a loopback port until the
// test ends, and returns host:port.
func serve(t *testing.T, in Input) string {
	t.Helper()
	s, err := httpd.New(httpd.Config{Body: pageOf(in)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// startPrometheus runs Prometheus scraping target every second until the
// test ends, and returns its API's base URL.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: natp2p\n    static_configs: [{targets: [%q]}]\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := promtest.FreeAddr(t)
	promtest.Start(t, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	return "http://" + listen
}

// waitQuery runs an instant query until it returns series (or 30 s pass)
// and returns their labels.
func waitQuery(t *testing.T, api, query string) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := instantQuery(api, query)
		if err == nil && len(got) > 0 || time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func instantQuery(api, query string) ([]map[string]string, error) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, s := range r.Data.Result {
		out = append(out, s.Metric)
	}
	return out, nil
}

// pageOf renders in's page, as the daemon's Body funcs do.
func pageOf(in Input) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		var b bytes.Buffer
		err := Write(&b, in)
		return b.Bytes(), err
	}
}
