//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/enforce"
	"github.com/natp2p/natp2p/internal/lab"
)

// benchTarget is a backend, and for iptables the flavour of its tools.
type benchTarget struct {
	backend lab.Backend
	flavour lab.Flavour // iptables only
}

func (t benchTarget) String() string {
	if t.backend == lab.Iptables {
		return "iptables-" + string(t.flavour)
	}
	return string(t.backend)
}

// benchTargets: nftables, then iptables on each flavour installed.
func benchTargets(w io.Writer) []benchTarget {
	out := []benchTarget{{backend: lab.Nftables}}
	for _, f := range lab.Flavours {
		if _, err := f.Dir(); err != nil {
			fmt.Fprintf(w, "iptables %s skipped: %v\n", f, err)
			continue
		}
		out = append(out, benchTarget{lab.Iptables, f})
	}
	return out
}

// within runs fn with t's iptables tools first in PATH (the lab router's
// rules, the in-process backend and the agent all use them).
func (t benchTarget) within(fn func() error) error {
	if t.backend != lab.Iptables {
		return fn()
	}
	old := os.Getenv("PATH")
	path, err := t.flavour.PATH(old)
	if err != nil {
		return err
	}
	os.Setenv("PATH", path)
	defer os.Setenv("PATH", old)
	return fn()
}

// enfIdle is how long the agent's idle CPU is measured; enfIdleHosts LAN
// hosts hold enfPinsMany pins between them (the agent allows 2,048 per
// host).
const (
	enfIdle      = time.Minute
	enfIdleHosts = 5
)

// idleResult is the agent holding enfPinsMany pins, then idle.
type idleResult struct {
	target     benchTarget
	listAlways bool // enforce.IPTListAlwaysEnv: a listing at every check
	pins       int  // held after the idle window
	p50, p99   time.Duration
	cpu        time.Duration // agent and its tools over enfIdle
	putBack    uint64        // reinstalls and pins put back during the window
}

// idleCPU starts the agent (pin grace 1 h), makes enfPinsMany new
// private endpoints that each get an echo (a replied flow: its pin
// stays), reads the install latency up to there, then the CPU time the
// agent and the iptables tools it ran took over enfIdle with nothing
// changing.
func idleCPU(ctx context.Context, bin string, t benchTarget, listAlways bool) (idleResult, error) {
	res := idleResult{target: t, listAlways: listAlways}
	l, err := lab.New(ctx, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: t.backend, Flavour: t.flavour, LANHosts: enfIdleHosts})
	if err != nil {
		return res, err
	}
	defer l.Close()
	server := netip.AddrPortFrom(l.ServerAddrs[0], enfEchoPort)
	if err := l.WAN.UDPEcho(server); err != nil {
		return res, err
	}
	if listAlways {
		os.Setenv(enforce.IPTListAlwaysEnv, "1")
	}
	a, done, err := startEnforcing(ctx, l, bin, t.backend, "--pin-grace", "1h")
	os.Unsetenv(enforce.IPTListAlwaysEnv)
	if err != nil {
		return res, err
	}
	defer done()
	for h := range enfIdleHosts {
		fds, err := openSockets(l.LAN[h], enfPinsMany/enfIdleHosts)
		defer closeFDs(fds)
		if err != nil {
			return res, err
		}
		for i, fd := range fds {
			if err := sendID(fd, server, uint64(h*len(fds)+i)); err != nil {
				return res, err
			}
			time.Sleep(enfPace)
		}
	}
	r, err := waitAgentPins(ctx, a, enfPinsMany)
	if err != nil {
		return res, err
	}
	e := r.Enforcement
	res.p50, res.p99 = e.InstallP50, e.InstallP99
	time.Sleep(2 * time.Second) // the last events and the check after them
	pid := a.Daemon.Process.Pid
	cpu0, err := procCPU(pid)
	if err != nil {
		return res, err
	}
	time.Sleep(enfIdle)
	cpu1, err := procCPU(pid)
	if err != nil {
		return res, err
	}
	res.cpu = cpu1 - cpu0
	if r, _, err = a.Report(ctx); err != nil || r.Enforcement == nil {
		return res, fmt.Errorf("report after the idle minute: %v", err)
	}
	res.pins = r.Enforcement.Pins
	res.putBack = r.Enforcement.Reinstalls + r.Enforcement.PinsPutBack - e.Reinstalls - e.PinsPutBack
	return res, nil
}

// procCPU is the user and system time of pid and of the children it
// waited for (the iptables tools), from /proc/PID/stat, in USER_HZ
// (100 per second on Linux) ticks.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name: state is field 3; utime, stime,
	// cutime and cstime are 14 to 17.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

func printIdle(w io.Writer, rs []idleResult) {
	fmt.Fprintf(w, "### iptables backend holding %s pins (%d LAN hosts, one replied flow each, made one at a time %v apart)\n\n",
		thousands(enfPinsMany), enfIdleHosts, enfPace)
	fmt.Fprintf(w, "Idle CPU: the agent's and its iptables tools' user+system time over %v with nothing changing "+
		"(/proc/PID/stat utime+stime+cutime+cstime), per minute.\n\n", enfIdle)
	fmt.Fprintln(w, "| backend | rule check | pins held | install p50 | install p99 | idle CPU per minute | share of one core | rules put back while idle |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		check := "stamp, list on change"
		if r.listAlways {
			check = "list every 500 ms (" + enforce.IPTListAlwaysEnv + "=1)"
		}
		perMin := time.Duration(float64(r.cpu) * float64(time.Minute) / float64(enfIdle))
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %.2f s | %.2f%% | %d |\n", r.target, check, r.pins, dur(r.p50), dur(r.p99),
			perMin.Seconds(), 100*perMin.Seconds()/60, r.putBack)
	}
	fmt.Fprintln(w)
}

// benchEnforceIdle is bench-enforce's idle-agent table alone (about 5
// minutes): the iptables backend holding 10,000 pins, on both flavours.
func benchEnforceIdle(ctx context.Context, w io.Writer, bin string) error {
	idle, err := idleRuns(ctx, bin, benchTargets(w))
	if err != nil {
		return err
	}
	printIdle(w, idle)
	return nil
}

// idleRuns measures idleCPU for each iptables target, listing always and
// with the stamp, one after the other.
func idleRuns(ctx context.Context, bin string, targets []benchTarget) ([]idleResult, error) {
	var out []idleResult
	for _, t := range targets {
		if t.backend != lab.Iptables {
			continue
		}
		for _, always := range []bool{true, false} {
			var r idleResult
			err := t.within(func() (err error) {
				r, err = idleCPU(ctx, bin, t, always)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("%s idle CPU: %w", t, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// enfCheckRounds is how many rule checks checkCost times.
const enfCheckRounds = 20

// checkCost times the iptables backend's rule check (Installed) in the
// router namespace, with the rules and pins in place: listing the chains
// every time (enforce.IPTListAlwaysEnv), and reading the stamp after the
// one listing that trusts it. Wall time per check, the tools' included.
func checkCost(l *lab.Lab, rules enforce.Rules) (list, stamp time.Duration, err error) {
	err = l.Router.Do(func() error {
		os.Setenv(enforce.IPTListAlwaysEnv, "1")
		always, err := enforce.NewIPT(rules)
		os.Unsetenv(enforce.IPTListAlwaysEnv)
		if err != nil {
			return err
		}
		cheap, err := enforce.NewIPT(rules)
		if err != nil {
			return err
		}
		if list, err = timeChecks(always); err != nil {
			return err
		}
		if _, err := cheap.Installed(); err != nil {
			return err
		}
		stamp, err = timeChecks(cheap)
		return err
	})
	return list, stamp, err
}

func timeChecks(b enforce.Backend) (time.Duration, error) {
	t0 := time.Now()
	for range enfCheckRounds {
		ok, err := b.Installed()
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("rule check: rules missing")
		}
	}
	return time.Since(t0) / enfCheckRounds, nil
}

func printCheckCost(w io.Writer, labels []string, floods map[string][]floodResult) {
	fmt.Fprintf(w, "### iptables rule check, wall time per check with natp2p's rules and N pins (mean of %d, first flood run's lab)\n\n", enfCheckRounds)
	fmt.Fprintln(w, "| backend | pins | list the chains (every check before; now when the stamp moved, and every 60th) | read the stamp (idle check now) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, name := range labels {
		for _, r := range floods[name] {
			if r.run == 1 && r.listCost > 0 {
				fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, thousands(r.pins), dur(r.listCost), dur(r.stampCost))
			}
		}
	}
	fmt.Fprintln(w)
}
