package agent

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	}
	for _, tt := range tests {
		if err := tt.check(tt.value); (err == nil) != tt.ok {
			t.Errorf("check(%q) = %v, want ok %v", tt.value, err, tt.ok)
		}
	}
}
