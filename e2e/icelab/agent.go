//go:build linux

package icelab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
)

// agentWait bounds how long the daemon may take to answer with its rules
// in place.
const agentWait = 10 * time.Second

// Agent is natp2p-agent's daemon running in one router of a lab.
type Agent struct {
	Site   *lab.Site
	Bin    string
	Socket string    // control socket
	Daemon *exec.Cmd // the daemon's process
}

// StartAgent starts `natp2p-agent run` in the router of site, on its
// WAN and LAN interfaces, with its control socket in dir and extra args
// (such as "--mode", "enforce", "--backend", "nftables"), and waits until
// the daemon answers (in enforce mode: with its rules installed). The lab
// stops it on Close.
func StartAgent(ctx context.Context, site *lab.Site, bin, dir string, args ...string) (*Agent, error) {
	a := &Agent{Site: site, Bin: bin, Socket: filepath.Join(dir, "agent.sock")}
	argv := append([]string{"run", "--socket", a.Socket, "--wan", site.WANIface, "--lan", site.LANIface}, args...)
	cmd, err := site.Router.Start(ctx, bin, argv...)
	if err != nil {
		return nil, err
	}
	a.Daemon = cmd
	enforce := false
	for _, arg := range args {
		enforce = enforce || arg == "enforce"
	}
	var last error
	for deadline := time.Now().Add(agentWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = a.ready(ctx, enforce); last == nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("icelab: natp2p-agent in %s not ready within %v: %w", site.Router.Name, agentWait, last)
}

// ready asks the daemon for its report and checks it came from the
// daemon, with enforce mode's rules in place if enforce.
func (a *Agent) ready(ctx context.Context, enforce bool) error {
	out, err := a.Run(ctx, "report", "--json")
	if err != nil && len(out) == 0 {
		return err
	}
	var r struct {
		Source      string `json:"source"`
		Enforcement *struct {
			Installed bool `json:"installed"`
		} `json:"enforcement"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("report --json: %w", err)
	}
	switch {
	case r.Source != "daemon":
		return fmt.Errorf("report from %q, not from the daemon", r.Source)
	case enforce && (r.Enforcement == nil || !r.Enforcement.Installed):
		return errors.New("enforce mode's rules not installed yet")
	}
	return nil
}

// Run runs `natp2p-agent args... --socket SOCKET --wan WAN` in the router
// and returns its stdout. A report's exit status 1 (something fails) is
// an error with the output still returned.
func (a *Agent) Run(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--socket", a.Socket, "--wan", a.Site.WANIface)
	cmd := a.Site.Router.Command(ctx, a.Bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("icelab: natp2p-agent %s exited %d: %s", args[0], exit.ExitCode(), bytes.TrimSpace(stderr.Bytes()))
	}
	return out, err
}

// Stop stops the daemon (SIGTERM) and waits for it; enforce mode's rules
// stay in place, as on a router (`natp2p-agent cleanup` removes them).
func (a *Agent) Stop() error {
	if err := a.Daemon.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := a.Site.Router.Wait(a.Daemon); err != nil {
		return fmt.Errorf("icelab: natp2p-agent in %s: %w", a.Site.Router.Name, err)
	}
	return nil
}

// WaitProbes waits, at most limit, until the daemon's report holds its
// probes from both vantages (the router's WAN and the LAN side).
func (a *Agent) WaitProbes(ctx context.Context, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, _ := a.Run(ctx, "report", "--json")
		var r struct {
			Probe *struct {
				LAN, WAN *json.RawMessage
			} `json:"probe"`
		}
		if json.Unmarshal(out, &r) == nil && r.Probe != nil && r.Probe.LAN != nil && r.Probe.WAN != nil {
			return nil
		}
	}
	return fmt.Errorf("icelab: no probes in the report of %s within %v", a.Site.Router.Name, limit)
}

// Check returns the verdict and summary of check id in the daemon's
// report, or empty strings if the report has no such check.
func (a *Agent) Check(ctx context.Context, id string) (verdict, summary string, err error) {
	out, err := a.Run(ctx, "report", "--json")
	if len(out) == 0 {
		return "", "", err
	}
	var r struct {
		Checks []struct {
			ID, Verdict, Summary string
		} `json:"checks"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return "", "", fmt.Errorf("icelab: report --json: %w", err)
	}
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Verdict, c.Summary, nil
		}
	}
	return "", "", nil
}
