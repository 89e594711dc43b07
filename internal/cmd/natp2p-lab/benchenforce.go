//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/labagent"
	"github.com/natp2p/natp2p/internal/stats"
	"github.com/natp2p/natp2p/report"
)

// bench-enforce parameters.
const (
	enfEndpoints  = 2000                   // install latency: new private endpoints, one at a time
	enfPace       = time.Millisecond       // between two of them
	enfTrials     = 200                    // pin window: trials per delay
	enfTrialPause = 5 * time.Millisecond   // between two trials, so that the agent is idle when one starts
	enfBasePause  = time.Millisecond       // the same without the agent
	enfFloodLimit = 5 * time.Second        // a flood stops after this long
	enfPinsMany   = 10000                  // pins in the kernel during a flood
	enfPinsSome   = 1000                   // iptables only: the growth of its linear rules
	enfEchoPort   = 4000                   // the reflectors' port on both server addresses
	enfWaitSeen   = time.Second            // how long a datagram may take to reach the reflector
	enfWaitPins   = 10 * time.Second       // how long the agent may take to hold every pin
	enfSpinBelow  = 500 * time.Microsecond // shorter waits spin instead of sleeping
)

// windowDelays are the delays between a fresh endpoint's first datagram
// (to server A) and its second (to server B).
var windowDelays = []time.Duration{0, 50 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond}

// latencyResult is one backend's install latency run.
type latencyResult struct {
	backend        string // the target
	pins           int
	p50, p99       time.Duration // the agent's, from its report
	trip50, trip99 time.Duration // baseline: a new flow's first datagram, LAN socket to WAN reflector
	agentE         string
}

// windowResult is one series of pin window trials: per delay, how many
// trials saw server B get another public endpoint than server A.
type windowResult struct {
	differ, trials []int
	lost           []int             // trials whose datagram to A or B never arrived
	gaps           [][]time.Duration // measured gap between the two sends, per delay
}

// floodResult is one flood through the router with some natp2p rules.
type floodResult struct {
	config    string
	run       int
	sent      int
	took      time.Duration
	created   int // conntrack entries the flood made
	stockRate float64
	pins      int
	// adds and dels: one pin added (a pin installed), then deleted,
	// through the backend, each
	adds, dels []time.Duration
	// listCost and stampCost: iptables, first run, what one rule check
	// takes listing the chains and reading the stamp (checkCost).
	listCost, stampCost time.Duration
}

func (f floodResult) rate() float64 { return float64(f.created) / f.took.Seconds() }

// benchEnforce measures enforce mode on both backends under fully-random
// masquerade: pin install latency, the pin window, and new flows per
// second with many pins, each next to a baseline from the same run.
func benchEnforce(ctx context.Context, w io.Writer, bin string, flows, runs int) error {
	if err := lab.Requirements(lab.Iptables); err != nil {
		return err
	}
	start := time.Now()
	targets := benchTargets(w)
	var labels []string
	var lats []latencyResult
	windows := map[string][]windowResult{} // no agent, agent, agent --preserve-ports (iptables)
	floods := map[string][]floodResult{}
	for _, t := range targets {
		labels = append(labels, t.String())
		if err := t.within(func() error { return benchTarget1(ctx, bin, t, flows, runs, &lats, windows, floods) }); err != nil {
			return err
		}
	}
	idle, err := idleRuns(ctx, bin, targets)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "natp2p-agent enforce mode, lab NAT masquerade fully-random; kernel %s, %s, %s (%v)\n\n",
		kernelRelease(), toolVersion("iptables-legacy", "--version"), toolVersion("nft", "--version"),
		time.Since(start).Round(time.Second))
	printLatency(w, lats)
	printWindow(w, labels, windows)
	printFloods(w, labels, floods, flows)
	printCheckCost(w, labels, floods)
	printIdle(w, idle)
	return nil
}

// benchTarget1 measures one target: install latency, pin window, floods.
func benchTarget1(ctx context.Context, bin string, t benchTarget, flows, runs int,
	lats *[]latencyResult, windows map[string][]windowResult, floods map[string][]floodResult) error {
	b, name := t.backend, t.String()
	lr, err := installLatency(ctx, bin, b)
	if err != nil {
		return fmt.Errorf("%s install latency: %w", name, err)
	}
	lr.backend = name
	*lats = append(*lats, lr)
	base, enf, err := pinWindow(ctx, bin, b)
	if err != nil {
		return fmt.Errorf("%s pin window: %w", name, err)
	}
	windows[name] = []windowResult{base, enf}
	if b == lab.Iptables {
		// The iptables backend's port preservation, which needs no pin
		// in time (the baseline run again is discarded).
		if _, enf, err = pinWindow(ctx, bin, b, "--preserve-ports"); err != nil {
			return fmt.Errorf("%s pin window with --preserve-ports: %w", name, err)
		}
		windows[name] = append(windows[name], enf)
	}
	fr, err := floodRates(ctx, b, flows, runs, true)
	if err != nil {
		return fmt.Errorf("%s flood: %w", name, err)
	}
	floods[name] = fr
	return nil
}

// installLatency starts the agent in enforce mode and makes enfEndpoints
// new private endpoints, one at a time, then reads the agent's figures.
func installLatency(ctx context.Context, bin string, b lab.Backend) (latencyResult, error) {
	res := latencyResult{backend: string(b)}
	l, err := lab.New(ctx, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: b})
	if err != nil {
		return res, err
	}
	defer l.Close()
	server := netip.AddrPortFrom(l.ServerAddrs[0], enfEchoPort)
	refl, err := startReflector(l.WAN, server)
	if err != nil {
		return res, err
	}
	defer refl.close()
	a, done, err := startEnforcing(ctx, l, bin, b)
	if err != nil {
		return res, err
	}
	defer done()
	fds, err := openSockets(l.LAN[0], enfEndpoints)
	defer closeFDs(fds)
	if err != nil {
		return res, err
	}
	trips := make([]time.Duration, 0, len(fds))
	for i, fd := range fds {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		id := uint64(i)
		t0 := time.Now()
		if err := sendID(fd, server, id); err != nil {
			return res, err
		}
		seen, ok := refl.wait(id)
		if !ok {
			return res, fmt.Errorf("datagram %d never reached %v", i, server)
		}
		trips = append(trips, seen.at.Sub(t0))
		time.Sleep(enfPace)
	}
	r, err := waitAgentPins(ctx, a, enfEndpoints)
	if err != nil {
		return res, err
	}
	e := r.Enforcement
	res.pins, res.p50, res.p99 = e.Pins, e.InstallP50, e.InstallP99
	res.agentE = e.Error
	res.trip50, res.trip99 = stats.Percentile(trips, 50), stats.Percentile(trips, 99)
	return res, nil
}

// startEnforcing starts the agent in enforce mode with the lab's backend.
// done stops it and removes its rules.
func startEnforcing(ctx context.Context, l *lab.Lab, bin string, b lab.Backend, extra ...string) (*labagent.Agent, func(), error) {
	dir, err := os.MkdirTemp("", "natp2p-bench-enforce-")
	if err != nil {
		return nil, nil, err
	}
	a := labagent.New(l, bin, dir)
	args := append([]string{"--mode", "enforce", "--backend", string(b), "--lan", l.LANIface, "--log-level", "warn"}, extra...)
	if err := a.Start(ctx, args...); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return a, func() {
		if a.Daemon != nil && a.Daemon.Process != nil {
			a.Daemon.Process.Signal(unix.SIGTERM)
			l.Router.Wait(a.Daemon)
		}
		a.Run(context.Background(), "cleanup", "--socket", a.Socket)
		os.RemoveAll(dir)
	}, nil
}

// waitAgentPins waits (bounded) until the agent's report holds n pins.
func waitAgentPins(ctx context.Context, a *labagent.Agent, n int) (report.Report, error) {
	deadline := time.Now().Add(enfWaitPins)
	for {
		r, _, err := a.Report(ctx)
		if err != nil {
			return r, err
		}
		if r.Enforcement == nil {
			return r, errors.New("the report has no enforcement object")
		}
		if r.Enforcement.Pins >= n || time.Now().After(deadline) {
			return r, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pinWindow runs the window trials without the agent, then with it, in
// one lab.
// pinWindow measures the window without the agent (base) and with it,
// started with extra flags.
func pinWindow(ctx context.Context, bin string, b lab.Backend, extra ...string) (base, enf windowResult, err error) {
	l, err := lab.New(ctx, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: b})
	if err != nil {
		return base, enf, err
	}
	defer l.Close()
	srvA := netip.AddrPortFrom(l.ServerAddrs[0], enfEchoPort)
	srvB := netip.AddrPortFrom(l.ServerAddrs[1], enfEchoPort)
	refl, err := startReflector(l.WAN, srvA, srvB)
	if err != nil {
		return base, enf, err
	}
	defer refl.close()
	if base, err = windowTrials(ctx, l, refl, srvA, srvB, 0, enfBasePause); err != nil {
		return base, enf, err
	}
	// The baseline's flows hold random public ports towards A and B; a pin
	// on one of them would clash with them. Start from an empty table.
	if _, err := l.Conntrack(ctx, "-F"); err != nil {
		return base, enf, err
	}
	_, done, err := startEnforcing(ctx, l, bin, b, extra...)
	if err != nil {
		return base, enf, err
	}
	defer done()
	enf, err = windowTrials(ctx, l, refl, srvA, srvB, 1<<32, enfTrialPause)
	return base, enf, err
}

// windowTrials runs enfTrials rounds; each round tries every delay once,
// each trial from a fresh socket, alternating between the two LAN hosts
// (the agent allows 2,048 pins per host).
func windowTrials(ctx context.Context, l *lab.Lab, refl *reflector, srvA, srvB netip.AddrPort, idBase uint64, pause time.Duration) (windowResult, error) {
	n := len(windowDelays)
	res := windowResult{differ: make([]int, n), trials: make([]int, n), lost: make([]int, n), gaps: make([][]time.Duration, n)}
	var fds [2][]int
	for h := range fds {
		var err error
		fds[h], err = openSockets(l.LAN[h], enfTrials*n/2+n)
		defer closeFDs(fds[h])
		if err != nil {
			return res, err
		}
	}
	next := [2]int{}
	for t := 0; t < enfTrials; t++ {
		for d, delay := range windowDelays {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			h := (t*n + d) % 2
			fd := fds[h][next[h]]
			next[h]++
			id := idBase + uint64(t*n+d)*2
			gap, err := sendPair(fd, srvA, srvB, id, delay)
			if err != nil {
				return res, err
			}
			a, okA := refl.wait(id)
			bb, okB := refl.wait(id + 1)
			if !okA || !okB {
				res.lost[d]++ // a conntrack insert failed: see BENCHMARKS.md
				time.Sleep(pause)
				continue
			}
			res.trials[d]++
			res.gaps[d] = append(res.gaps[d], gap)
			if a.from != bb.from {
				res.differ[d]++
			}
			time.Sleep(pause)
		}
	}
	return res, nil
}

// sendPair sends id to a, waits delay, sends id+1 to b, and returns the
// time between the two sends.
func sendPair(fd int, a, b netip.AddrPort, id uint64, delay time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if err := sendID(fd, a, id); err != nil {
		return 0, err
	}
	if delay > 0 {
		if delay > enfSpinBelow {
			time.Sleep(delay - enfSpinBelow/2)
		}
		for time.Since(t0) < delay {
		}
	}
	gap := time.Since(t0)
	return gap, sendID(fd, b, id+1)
}
