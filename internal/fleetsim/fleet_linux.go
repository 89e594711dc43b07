package fleetsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Port is the metrics port every simulated router listens on, each on an
// address of its own in 127.0.0.0/8 (Linux answers the whole block on lo).
const Port = 9959

// FleetConfig says how to run a fleet.
type FleetConfig struct {
	Agent   string   // natp2p-agent binary
	Dir     string   // a directory of one's own for each router's files
	Routers []Router // from Generate
	// Listen makes each router serve GET /metrics (metrics_listen).
	Listen bool
	// PushURL, if set, is the import endpoint each router pushes to
	// (metrics_push) every PushInterval, with instance=<router name>.
	PushURL      string
	PushInterval time.Duration
}

// Agent is one running router.
type Agent struct {
	Router
	Addr   string // host:port of its GET /metrics, when listening
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

// Fleet is a running simulated fleet: one natp2p-agent process per
// router, replaying its report.
type Fleet struct {
	Agents []*Agent
}

// AddrOf is router i's metrics address: 127.1.0.1, ... 127.1.0.200,
// 127.1.1.1, ...
func AddrOf(i int) string {
	return fmt.Sprintf("127.1.%d.%d:%d", i/200, i%200+1, Port)
}

// StartFleet starts every router of cfg; on an error it stops those it
// started.
func StartFleet(cfg FleetConfig) (*Fleet, error) {
	f := &Fleet{}
	for i, r := range cfg.Routers {
		a, err := startAgent(cfg, i, r)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		f.Agents = append(f.Agents, a)
	}
	return f, nil
}

// startAgent writes router i's files (its report, and a root holding its
// model and firmware where the agent reads them) and starts its daemon.
func startAgent(cfg FleetConfig, i int, r Router) (*Agent, error) {
	dir := filepath.Join(cfg.Dir, r.Name)
	if err := writeRoot(filepath.Join(dir, "root"), r); err != nil {
		return nil, err
	}
	replay := filepath.Join(dir, "report.json")
	if err := os.WriteFile(replay, r.Report, 0o644); err != nil {
		return nil, err
	}
	a := &Agent{Router: r}
	args := []string{"run", "--replay", replay, "--socket", filepath.Join(dir, "agent.sock"),
		"--path.rootfs", filepath.Join(dir, "root"), "--log-level", "warn", "--log-target", "stderr"}
	if cfg.Listen {
		a.Addr = AddrOf(i)
		args = append(args, "--metrics-listen", a.Addr)
	}
	if cfg.PushURL != "" {
		args = append(args, "--metrics-push", cfg.PushURL, "--metrics-push-interval", cfg.PushInterval.String(),
			"--metrics-push-labels", "instance="+r.Name+" job=natp2p")
	}
	a.cmd = exec.Command(cfg.Agent, args...)
	a.cmd.Stderr = &a.stderr
	// GOGC as the daemon would want on a router is not the point here;
	// a small heap limit keeps 500 of them within a test machine's RAM.
	a.cmd.Env = append(os.Environ(), "GOMEMLIMIT=8MiB")
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	return a, nil
}

// writeRoot makes the files metrics.ReadDevice reads: OpenWrt's board
// name and release file, or os-release for other firmware.
func writeRoot(root string, r Router) error {
	files := map[string]string{"tmp/sysinfo/model": r.Model + "\n"}
	if rest, ok := strings.CutPrefix(r.Firmware, "OpenWrt "); ok {
		release, revision, _ := strings.Cut(rest, " ")
		files["etc/openwrt_release"] = fmt.Sprintf("DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='%s'\nDISTRIB_REVISION='%s'\n", release, revision)
	} else {
		files["etc/os-release"] = fmt.Sprintf("NAME=%q\nPRETTY_NAME=%q\n", r.Firmware, r.Firmware)
	}
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WaitServing waits until every listening router answers GET /metrics,
// or the context ends.
func (f *Fleet) WaitServing(ctx context.Context) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for _, a := range f.Agents {
		for a.Addr != "" {
			resp, err := c.Get("http://" + a.Addr + "/metrics")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if a.cmd.ProcessState != nil || processGone(a.cmd.Process.Pid) {
				return fmt.Errorf("%s exited: %s", a.Name, a.stderr.String())
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s does not serve /metrics: %v", a.Name, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// processGone reports whether pid has exited (a zombie counts).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := bytes.Cut(b, []byte(") "))
	return len(rest) > 0 && rest[0] == 'Z'
}

// Targets are the routers' metrics addresses.
func (f *Fleet) Targets() []string {
	var out []string
	for _, a := range f.Agents {
		if a.Addr != "" {
			out = append(out, a.Addr)
		}
	}
	return out
}

// Usage sums the routers' resident memory and CPU time, their own and
// their waited-for children's (the push clients).
func (f *Fleet) Usage() (Usage, error) {
	var u Usage
	for _, a := range f.Agents {
		p, err := usageOf(a.cmd.Process.Pid)
		if err != nil {
			return u, fmt.Errorf("%s: %w", a.Name, err)
		}
		u.add(p)
	}
	return u, nil
}

// Close stops every router (SIGTERM, then SIGKILL after 5 s) and returns
// the first one's error that did not stop cleanly, with its log.
func (f *Fleet) Close() error {
	for _, a := range f.Agents {
		a.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range f.Agents {
		done := make(chan error, 1)
		go func() { done <- a.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && len(errs) == 0 {
				errs = append(errs, fmt.Errorf("%s: %v: %s", a.Name, err, a.stderr.String()))
			}
		case <-time.After(time.Until(deadline)):
			a.cmd.Process.Kill()
			<-done
		}
	}
	return errors.Join(errs...)
}
