//go:build linux

// Package labagent drives the natp2p-agent binary inside a lab router: it
// starts the daemon, asks it for reports and mappings, and reads the
// kernel's own view to compare with. The integration tests, the demo and
// the whole-system benchmark share it.
package labagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/report"
)

// startTimeout bounds how long a daemon may take to answer.
const startTimeout = 10 * time.Second

// Agent is a natp2p-agent binary used in a lab's router namespace, with
// the daemon's control socket if one was started.
type Agent struct {
	Lab    *lab.Lab
	Bin    string
	Socket string    // control socket; a path nobody listens on until Start
	Daemon *exec.Cmd // the running daemon, or nil
}

// New prepares bin for use in l; its socket lives in dir.
func New(l *lab.Lab, bin, dir string) *Agent {
	return &Agent{Lab: l, Bin: bin, Socket: filepath.Join(dir, "agent.sock")}
}

// Start starts `natp2p-agent run` on the lab's WAN interface with extra
// args and waits until it answers. The lab stops it on Close.
func (a *Agent) Start(ctx context.Context, args ...string) error {
	args = append([]string{"run", "--socket", a.Socket, "--wan", a.Lab.WANIface}, args...)
	cmd, err := a.Lab.Router.Start(ctx, a.Bin, args...)
	if err != nil {
		return err
	}
	a.Daemon = cmd
	deadline := time.Now().Add(startTimeout)
	for {
		r, _, err := a.Report(ctx)
		if err == nil && r.Source == report.SourceDaemon {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("labagent: the daemon did not answer within %v (last: %v)", startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Run runs the binary in the router namespace and returns its stdout,
// stderr and exit status; err is for failures to run it at all.
func (a *Agent) Run(ctx context.Context, args ...string) (stdout, stderr string, code int, err error) {
	cmd := a.Lab.Router.Command(ctx, a.Bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), errb.String(), exit.ExitCode(), nil
	}
	return out.String(), errb.String(), 0, err
}

// Report runs `report --json` (from the daemon if one answers, else a
// snapshot), checks the document against the schema and returns it with
// the exit status.
func (a *Agent) Report(ctx context.Context, args ...string) (report.Report, int, error) {
	args = append([]string{"report", "--json", "--wan", a.Lab.WANIface, "--socket", a.Socket}, args...)
	out, stderr, code, err := a.Run(ctx, args...)
	var r report.Report
	switch {
	case err != nil:
		return r, code, err
	case code != 0 && code != 1:
		return r, code, fmt.Errorf("labagent: report exited %d: %s", code, strings.TrimSpace(stderr))
	}
	if err := report.Validate([]byte(out)); err != nil {
		return r, code, fmt.Errorf("labagent: report --json: %w\n%s", err, out)
	}
	return r, code, json.Unmarshal([]byte(out), &r)
}

// Mappings returns the agent's mapping table, reduced to MappingKeys.
func (a *Agent) Mappings(ctx context.Context) ([]MappingKey, error) {
	out, stderr, code, err := a.Run(ctx, "mappings", "--json", "--wan", a.Lab.WANIface, "--socket", a.Socket)
	if err == nil && code != 0 {
		err = fmt.Errorf("labagent: mappings exited %d: %s", code, strings.TrimSpace(stderr))
	}
	if err != nil {
		return nil, err
	}
	var ms []conntrackmap.Mapping
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, err
	}
	keys := make([]MappingKey, 0, len(ms))
	for _, m := range ms {
		for _, p := range m.Public {
			keys = append(keys, MappingKey{m.Proto.String(), m.Private.String(), p.String(), len(m.Remotes)})
		}
	}
	return sortKeys(keys), nil
}

// RSS returns the daemon's resident set size in bytes.
func (a *Agent) RSS() (int64, error) {
	if a.Daemon == nil || a.Daemon.Process == nil {
		return 0, errors.New("labagent: no daemon")
	}
	// The daemon is a child of `ip netns exec`, which execs it: same pid.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.Daemon.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("labagent: no VmRSS")
}

// MappingKey is one private endpoint's use of one public endpoint, with
// the private endpoint's number of live sessions (over all its public
// endpoints): what both the agent and conntrack -L show.
type MappingKey struct {
	Proto, Private, Public string
	Sessions               int
}

// KernelMappings reads the router's conntrack table with `conntrack -L`
// and reduces its source-NATed UDP and TCP flows on the WAN address to
// MappingKeys.
func KernelMappings(ctx context.Context, l *lab.Lab) ([]MappingKey, error) {
	flows, err := l.Flows(ctx)
	if err != nil {
		return nil, err
	}
	type priv struct{ proto, addr string }
	sessions := map[priv]int{}
	publics := map[priv]map[string]bool{}
	for _, f := range flows {
		if (f.Proto == "udp" || f.Proto == "tcp") && f.ReplyDst.Addr() == l.RouterWAN && f.ReplyDst != f.OrigSrc {
			p := priv{f.Proto, f.OrigSrc.String()}
			sessions[p]++
			if publics[p] == nil {
				publics[p] = map[string]bool{}
			}
			publics[p][f.ReplyDst.String()] = true
		}
	}
	var out []MappingKey
	for p, pubs := range publics {
		for pub := range pubs {
			out = append(out, MappingKey{p.proto, p.addr, pub, sessions[p]})
		}
	}
	return sortKeys(out), nil
}

func sortKeys(ks []MappingKey) []MappingKey {
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.Private != b.Private {
			return a.Private < b.Private
		}
		return a.Public < b.Public
	})
	return ks
}
