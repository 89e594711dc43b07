package metrics

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/internal/promtest"
	"github.com/natp2p/natp2p/metrics/push"
)

// TestVictoriaMetricsImport pushes the page through metrics/push (the
// system's curl or wget) into a real victoria-metrics, and reads the
// verdicts back with the pushed identity label.
func TestVictoriaMetricsImport(t *testing.T) {
	bin, err := exec.LookPath("victoria-metrics")
	if err != nil {
		labtest.Missing(t, "victoria-metrics (Debian package victoria-metrics)")
	}
	base := startVictoria(t, bin)
	in := full()
	p, err := push.New(push.Config{URL: base + "/api/v1/import/prometheus", Labels: map[string]string{"instance": "cpe-1"},
		Body: pageOf(in)})
	if err != nil {
		labtest.Missing(t, "curl, uclient-fetch or wget")
	}
	if err := waitUp(base); err != nil {
		t.Fatal(err)
	}
	if err := p.Push(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, c := range in.Report.Checks {
		want[c.ID] = strings.ToLower(string(c.Verdict))
	}
	var got map[string]string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if got, err = exported(base, `natp2p_check{instance="cpe-1"}`); err == nil && len(got) == len(want) {
			break
		}
	}
	if err != nil || len(got) != len(want) {
		t.Fatalf("exported verdicts %v (%v), want %v", got, err, want)
	}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("%s: victoria-metrics has %s, the report %s", id, got[id], v)
		}
	}
}

// startVictoria runs victoria-metrics on a loopback port until the test
// ends, and returns its base URL.
func startVictoria(t *testing.T, bin string) string {
	t.Helper()
	listen := promtest.FreeAddr(t)
	promtest.Start(t, bin, "-storageDataPath="+filepath.Join(t.TempDir(), "vm"), "-httpListenAddr="+listen, "-loggerLevel=ERROR")
	return "http://" + listen
}

// waitUp waits until the server answers /health.
func waitUp(base string) error {
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		if resp, err = http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return err
}

// exported reads the series matching match through /api/v1/export (raw
// samples, no query lookback) and returns the verdict at 1 of each check.
func exported(base, match string) (map[string]string, error) {
	resp, err := http.Get(base + "/api/v1/export?match[]=" + url.QueryEscape(match))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var s struct {
			Metric map[string]string `json:"metric"`
			Values []float64         `json:"values"`
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, err
		}
		if len(s.Values) > 0 && s.Values[len(s.Values)-1] == 1 {
			got[s.Metric["check"]] = s.Metric["verdict"]
		}
	}
	return got, sc.Err()
}
