package fleetsim

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Server is a monitoring server the fleet runs against: Prometheus,
// victoria-metrics or vmalert, started on a loopback port.
type Server struct {
	Name string
	URL  string // http://127.0.0.1:port
	Dir  string // its data
	cmd  *exec.Cmd
	log  bytes.Buffer
}

// StartPrometheus runs Prometheus with its data in dir, scraping targets
// every interval, with the rules file loaded.
func StartPrometheus(bin, dir string, targets []string, rules string, interval time.Duration) (*Server, error) {
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = fmt.Sprintf("%q", t)
	}
	cfg := fmt.Sprintf("global: {scrape_interval: %s, scrape_timeout: %s, evaluation_interval: %s}\n"+
		"rule_files: [%q]\nscrape_configs:\n  - job_name: natp2p\n    static_configs: [{targets: [%s]}]\n",
		interval, interval, interval, rules, strings.Join(quoted, ", "))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return start("prometheus", bin, dir, func(listen string) []string {
		return []string{"--config.file=" + path, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + listen, "--log.level=warn"}
	}, "/-/ready")
}

// StartVictoria runs a single-node victoria-metrics with its data in dir.
// Points are visible to queries at once (no latency offset), as the tests
// read right after a push.
func StartVictoria(bin, dir string) (*Server, error) {
	return start("victoria-metrics", bin, dir, func(listen string) []string {
		return []string{"-storageDataPath=" + filepath.Join(dir, "data"), "-httpListenAddr=" + listen,
			"-loggerLevel=ERROR", "-search.latencyOffset=0s", "-search.disableCache"}
	}, "/health")
}

// StartVMAlert runs vmalert with the rules file against victoria-metrics
// at vm, writing the recorded series back into it. Its alerts go to a
// closed port: vmalert requires a notifier, and the fleet tests are about
// what the rules record.
func StartVMAlert(bin, dir, vm, rules string) (*Server, error) {
	nowhere, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return start("vmalert", bin, dir, func(listen string) []string {
		return []string{"-rule=" + rules, "-datasource.url=" + vm, "-remoteWrite.url=" + vm, "-notifier.url=http://" + nowhere,
			"-remoteWrite.flushInterval=1s", "-httpListenAddr=" + listen, "-loggerLevel=ERROR"}
	}, "/health")
}

// start runs a server on a free loopback port and waits (at most 30 s)
// until path answers 200.
func start(name, bin, dir string, args func(listen string) []string, path string) (*Server, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Name: name, URL: "http://" + listen, Dir: dir}
	s.cmd = exec.Command(bin, args(listen)...)
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get(s.URL + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || processGone(s.cmd.Process.Pid) {
			s.Close()
			return nil, fmt.Errorf("%s did not come up: %v\n%s", name, err, s.log.String())
		}
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Usage is the server's resident memory and CPU time now.
func (s *Server) Usage() (Usage, error) {
	return usageOf(s.cmd.Process.Pid)
}

// DiskUsage sums the sizes of the files under the server's data
// directory.
func (s *Server) DiskUsage() int64 {
	var n int64
	filepath.WalkDir(filepath.Join(s.Dir, "data"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// Log is what the server wrote on stdout and stderr.
func (s *Server) Log() string { return s.log.String() }

// Close stops the server (SIGTERM, SIGKILL after 10 s).
func (s *Server) Close() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// FlushVictoria makes victoria-metrics write what it buffers, so that
// queries and the disk see every sample.
func FlushVictoria(ctx context.Context, s *Server) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/internal/force_flush", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// FastRules copies the shipped rules file into dir with its groups
// evaluated every interval instead of every minute, so a test sees the
// recorded series within seconds; the rules themselves are the shipped
// ones.
func FastRules(shipped, dir string, interval time.Duration) (string, error) {
	b, err := os.ReadFile(shipped)
	if err != nil {
		return "", err
	}
	const from = "\n    interval: 1m\n"
	if bytes.Count(b, []byte(from)) != 1 {
		return "", fmt.Errorf("%s: expected one group with %q", shipped, strings.TrimSpace(from))
	}
	b = bytes.Replace(b, []byte(from), []byte("\n    interval: "+interval.String()+"\n"), 1)
	path := filepath.Join(dir, "natp2p.rules.yml")
	return path, os.WriteFile(path, b, 0o644)
}
