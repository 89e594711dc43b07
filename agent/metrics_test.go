package agent

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/metrics/textfile"
)

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// shmFile returns a *.prom path on tmpfs, or "" when /dev/shm is not one.
func shmFile(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "natp2p-test")
	if err != nil {
		return ""
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if textfile.Write(dir, "probe.prom", nil, false) != nil {
		return ""
	}
	return filepath.Join(dir, "natp2p.prom")
}

// TestDaemonMetrics: the daemon answers GET /metrics, the control socket's
// "metrics", and writes the textfile, which goes when it stops.
func TestDaemonMetrics(t *testing.T) {
	r := newRig(t)
	r.observe()
	addr, file := freeAddr(t), shmFile(t)
	r.a.cfg.MetricsListen, r.a.cfg.MetricsTextfile, r.a.cfg.Version = addr, file, "1.2.3"
	d := r.start(t)
	d.waitReady(t)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`natp2p_mappings{proto="udp"} 1`, `natp2p_build_info{version="1.2.3",`,
		`natp2p_report_source{source="daemon"} 1`, `natp2p_sessions_remapped_total{proto="udp"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %s:\n%s", want, body)
		}
	}
	if cr, err := ask(r.path, "metrics"); err != nil || (os.Geteuid() == 0 && !strings.Contains(cr.Metrics, "natp2p_check")) {
		t.Errorf("control socket's metrics = %.200q, %v", cr.Metrics, err)
	}
	if file != "" {
		r.a.writeTextfile()
		if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), "# HELP natp2p_check") {
			t.Errorf("textfile holds %.100q (%v)", b, err)
		}
	}
	d.cancel()
	if err := d.wait(t); err != nil {
		t.Errorf("Run = %v", err)
	}
	if _, err := os.Stat(file); file != "" && !os.IsNotExist(err) {
		t.Errorf("the textfile is still there after the daemon stopped (%v)", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the metrics port still answers after the daemon stopped")
	}
}

// TestDaemonPushes: the daemon pushes its metrics through the system's
// client, with its identity labels.
func TestDaemonPushes(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	got := make(chan *http.Request, 10)
	bodies := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	r := newRig(t)
	r.observe()
	r.a.cfg.MetricsPush, r.a.cfg.MetricsPushInterval = srv.URL+"/api/v1/import/prometheus", 50*time.Millisecond
	d := r.start(t)
	d.waitReady(t)
	select {
	case req := <-got:
		body := <-bodies
		if q := req.URL.Query()["extra_label"]; !slices.Equal(q, []string{"instance=test", "job=natp2p"}) || req.URL.Path != "/api/v1/import/prometheus" {
			t.Errorf("pushed to %s with labels %q", req.URL.Path, q)
		}
		if !strings.Contains(body, "natp2p_check{") {
			t.Errorf("pushed %.200q", body)
		}
	case <-time.After(runWait):
		t.Fatal("nothing pushed")
	}
}

func TestPushOptions(t *testing.T) {
	s := DefaultSettings()
	if err := setPushLabels(&s, []string{"instance=cpe-1 region=north", "site=a"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"instance": "cpe-1", "region": "north", "site": "a"}
	if got := pushLabels(s.MetricsPushLabels); !maps.Equal(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	for _, bad := range []string{"instance", "1a=b", "__name__=x", "a-b=c", "=x"} {
		if err := setPushLabels(&s, []string{bad}); err == nil {
			t.Errorf("setPushLabels(%q) succeeded", bad)
		}
	}
	if pushLabels(nil) != nil {
		t.Error("no labels should mean the defaults (nil)")
	}
	if _, err := parsePushInterval("5s"); err == nil {
		t.Error("a 5 s push interval was accepted")
	}
	if d, err := parsePushInterval("10s"); err != nil || d != 10*time.Second {
		t.Errorf("parsePushInterval(10s) = %v, %v", d, err)
	}
}

func TestMetricsOptions(t *testing.T) {
	tests := []struct {
		check func(string) error
		value string
		ok    bool
	}{
		{checkListen, "", true},
		{checkListen, "192.168.1.1:9959", true},
		{checkListen, ":9959", true},
		{checkListen, "[::1]:9959", true},
		{checkListen, "router:9959", false},
		{checkListen, "192.168.1.1", false},
		{checkListen, "192.168.1.1:0", false},
		{checkListen, "192.168.1.1:http", false},
		{checkTextfile, "", true},
		{checkTextfile, "/var/prometheus/natp2p.prom", true},
		{checkTextfile, "var/natp2p.prom", false},
		{checkTextfile, "/var/prometheus/natp2p.txt", false},
		{checkTextfile, "/var/prometheus/.prom", false},
		{checkPushURL, "", true},
		{checkPushURL, "https://vm.example.net/api/v1/import/prometheus", true},
		{checkPushURL, "vm.example.net", false},
		{checkPushClient, "auto", true},
		{checkPushClient, "uclient-fetch", true},
		{checkPushClient, "curl", true},
		{checkPushClient, "httpie", false},
		{checkPushClient, "", false},
	}
	for _, tt := range tests {
		if err := tt.check(tt.value); (err == nil) != tt.ok {
			t.Errorf("check(%q) = %v, want ok %v", tt.value, err, tt.ok)
		}
	}
}

// TestTextfileOnFlashStopsStart: a textfile outside tmpfs and ramfs stops
// the daemon at start, on one line, before anything else runs.
func TestTextfileOnFlashStopsStart(t *testing.T) {
	r, err := ReadReport("../report/testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := os.Getwd() // the source tree: not tmpfs where the tests run, else skip
	if textfile.Check(dir, false) == nil {
		t.Skip(dir, " is on tmpfs")
	}
	file := filepath.Join(dir, "testdata", "natp2p.prom")
	a := Replay(r, Config{Socket: filepath.Join(t.TempDir(), "agent.sock"), MetricsTextfile: file})
	err = a.Run(context.Background(), nil)
	if !errors.Is(err, textfile.ErrNotRAM) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Run = %v; want ErrNotRAM on one line", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a textfile was written on flash (%v)", err)
		os.Remove(file)
	}
}
