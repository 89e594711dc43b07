//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce"
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
	updates   []time.Duration // one pin added or deleted through the backend, each
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
	fr, err := floodRates(ctx, b, flows, runs)
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

// floodRates floods the router with new flows: with the stock NAT only,
// then with natp2p's rules and 0, (iptables: 1,000) and 10,000 pins, runs
// times each, in one lab, the agent not running.
func floodRates(ctx context.Context, b lab.Backend, flows, runs int) ([]floodResult, error) {
	l, err := lab.New(ctx, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: b, UDPTimeout: 600})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	rules := enforce.Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Mapping: true, Hairpin: true,
		Sources: []netip.Prefix{netip.PrefixFrom(l.RouterLAN, 24).Masked()}} // br-lan's network
	var be enforce.Backend
	err = l.Router.Do(func() (err error) {
		if b == lab.Iptables {
			be, err = enforce.NewIPT(rules)
		} else {
			be, err = enforce.NewNFT(rules)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	defer l.Router.Do(be.Remove)
	type config struct {
		name  string
		rules bool
		pins  int
	}
	configs := []config{{"stock NAT, no natp2p rules", false, 0}, {"natp2p rules, 0 pins", true, 0}}
	if b == lab.Iptables {
		configs = append(configs, config{fmt.Sprintf("natp2p rules, %s pins", thousands(enfPinsSome)), true, enfPinsSome})
	}
	configs = append(configs, config{fmt.Sprintf("natp2p rules, %s pins", thousands(enfPinsMany)), true, enfPinsMany})
	pins := floodPins(enfPinsMany, l.Public)
	var out []floodResult
	for run := 1; run <= runs; run++ {
		var stock float64
		for _, c := range configs {
			fr := floodResult{config: c.name, run: run, pins: c.pins}
			if err := floodInstall(ctx, l, be, c.rules, pins[:c.pins]); err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			if b == lab.Iptables && c.rules && run == 1 {
				if fr.listCost, fr.stampCost, err = checkCost(l, rules); err != nil {
					return nil, fmt.Errorf("%s: rule check: %w", c.name, err)
				}
			}
			if fr.sent, fr.took, fr.created, err = flood(ctx, l, flows); err != nil {
				return nil, err
			}
			if c.rules {
				if fr.updates, err = updateLatency(l, be); err != nil {
					return nil, fmt.Errorf("%s: updates: %w", c.name, err)
				}
			}
			if !c.rules {
				stock = fr.rate()
			}
			fr.stockRate = stock
			out = append(out, fr)
		}
	}
	return out, nil
}

// floodInstall empties the conntrack table and puts natp2p's rules in
// place with pins, or none without rules.
func floodInstall(ctx context.Context, l *lab.Lab, be enforce.Backend, rules bool, pins []enforce.Pin) error {
	if _, err := l.Conntrack(ctx, "-F"); err != nil {
		return err
	}
	return l.Router.Do(func() error {
		if err := be.Remove(); err != nil || !rules {
			return err
		}
		return be.Install(pins)
	})
}

// flood sends up to flows new flows from LAN host 0, stopped after
// enfFloodLimit, and counts the conntrack entries they made.
func flood(ctx context.Context, l *lab.Lab, flows int) (sent int, took time.Duration, created int, err error) {
	before, err := conntrackCount(ctx, l)
	if err != nil {
		return 0, 0, 0, err
	}
	fctx, cancel := context.WithTimeout(ctx, enfFloodLimit)
	sent, took, err = l.LAN[0].FloodUDP(fctx, l.ServerAddrs, flows, floodSockets)
	cancel()
	if err != nil && (ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded)) {
		return 0, 0, 0, err
	}
	time.Sleep(200 * time.Millisecond) // let any backlog drain
	after, err := conntrackCount(ctx, l)
	return sent, took, after - before, err
}

// floodPins are pins of private endpoints the flood does not use, spread
// over 200 addresses no LAN host has (198.51.100.20 to .219: pins of many
// hosts, as a busy LAN makes them), each on its own public port.
func floodPins(n int, public netip.Addr) []enforce.Pin {
	pins := make([]enforce.Pin, n)
	for i := range pins {
		priv := netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i%200)})
		pins[i] = enforce.Pin{Proto: conntrackmap.UDP,
			Private: netip.AddrPortFrom(priv, uint16(1024+i/200)),
			Public:  netip.AddrPortFrom(public, uint16(1024+i))}
	}
	return pins
}

// enfUpdates is how many pins updateLatency adds and deletes.
const enfUpdates = 100

// updateLatency adds enfUpdates pins to the backend's, one per update, and
// deletes them again, one per update, timing each: what one new endpoint
// costs the backend with the pins in place. Their public address is none
// of the router's (192.0.2.1), so that no pin the nftables backend learned
// from the flood holds one of their public endpoints.
func updateLatency(l *lab.Lab, be enforce.Backend) ([]time.Duration, error) {
	var took []time.Duration
	err := l.Router.Do(func() error {
		var added []enforce.Pin
		for i := range enfUpdates {
			p := enforce.Pin{Proto: conntrackmap.UDP,
				Private: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i%200)}), uint16(60000+i)),
				Public:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 1}), uint16(60000+i))}
			t0 := time.Now()
			if err := be.Update([]enforce.Pin{p}, nil); err != nil {
				return err
			}
			took, added = append(took, time.Since(t0)), append(added, p)
		}
		for _, p := range added {
			t0 := time.Now()
			if err := be.Update(nil, []enforce.Pin{p}); err != nil {
				return err
			}
			took = append(took, time.Since(t0))
		}
		return nil
	})
	return took, err
}

func conntrackCount(ctx context.Context, l *lab.Lab) (int, error) {
	out, err := l.Conntrack(ctx, "-C")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// reflector is a UDP server in the WAN host that records, by the 8-byte
// id each datagram carries, the public endpoint it came from.
type reflector struct {
	conns   []*net.UDPConn
	mu      sync.Mutex
	seen    map[uint64]sighting
	changed chan struct{} // closed and replaced at each new sighting
	wg      sync.WaitGroup
}

type sighting struct {
	from netip.AddrPort
	at   time.Time
}

func startReflector(ns *lab.NS, addrs ...netip.AddrPort) (*reflector, error) {
	r := &reflector{seen: map[uint64]sighting{}, changed: make(chan struct{})}
	for _, a := range addrs {
		var conn *net.UDPConn
		err := ns.Do(func() (err error) {
			conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
			return err
		})
		if err != nil {
			r.close()
			return nil, err
		}
		r.conns = append(r.conns, conn)
		r.wg.Add(1)
		go r.serve(conn)
	}
	return r, nil
}

func (r *reflector) serve(conn *net.UDPConn) {
	defer r.wg.Done()
	buf := make([]byte, 64)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if n != 8 {
			continue
		}
		r.mu.Lock()
		r.seen[binary.BigEndian.Uint64(buf)] = sighting{from: from, at: at}
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
}

// wait returns the sighting of id, waiting up to enfWaitSeen for it.
func (r *reflector) wait(id uint64) (sighting, bool) {
	timeout := time.NewTimer(enfWaitSeen)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		s, ok := r.seen[id]
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return s, true
		}
		select {
		case <-ch:
		case <-timeout.C:
			return sighting{}, false
		}
	}
}

func (r *reflector) close() {
	for _, c := range r.conns {
		c.Close()
	}
	r.wg.Wait()
}

// openSockets opens n UDP sockets in ns, each bound to its own ephemeral
// port: n fresh private endpoints.
func openSockets(ns *lab.NS, n int) ([]int, error) {
	var fds []int
	err := ns.Do(func() error {
		for i := 0; i < n; i++ {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
				return err
			}
		}
		return nil
	})
	return fds, err
}

func sendID(fd int, dst netip.AddrPort, id uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	err := unix.Sendto(fd, b[:], 0, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())})
	if err != nil {
		return fmt.Errorf("sendto %v: %w", dst, err)
	}
	return nil
}

func printLatency(w io.Writer, lats []latencyResult) {
	fmt.Fprintf(w, "### Pin install latency (%s new private endpoints, one at a time, %v apart)\n\n",
		thousands(enfEndpoints), enfPace)
	fmt.Fprintln(w, "| backend | pins held | install p50 | install p99 | baseline: first datagram LAN -> WAN p50 | p99 | agent error |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	for _, r := range lats {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", r.backend, r.pins, dur(r.p50), dur(r.p99),
			dur(r.trip50), dur(r.trip99), orNone(r.agentE))
	}
	fmt.Fprintln(w)
}

func printWindow(w io.Writer, backends []string, windows map[string][]windowResult) {
	fmt.Fprintf(w, "### Pin window (%d trials per delay; share of fresh endpoints whose second destination got another public port)\n\n", enfTrials)
	head, sep := "| delay A -> B | measured gap (median) |", "|---:|---:|"
	for _, b := range backends {
		for i := range windows[b] {
			head += fmt.Sprintf(" %s lab, %s |", b, [...]string{"no agent", "agent", "agent --preserve-ports"}[i])
			sep += "---:|"
		}
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	for d, delay := range windowDelays {
		var gaps []time.Duration
		for _, b := range backends {
			for _, wr := range windows[b] {
				gaps = append(gaps, wr.gaps[d]...)
			}
		}
		fmt.Fprintf(w, "| %s | %s |", dur(delay), dur(stats.Percentile(gaps, 50)))
		for _, b := range backends {
			for _, wr := range windows[b] {
				lost := ""
				if wr.lost[d] > 0 {
					lost = fmt.Sprintf(", %d lost", wr.lost[d])
				}
				fmt.Fprintf(w, " %d/%d (%.1f%%%s) |", wr.differ[d], wr.trials[d], 100*float64(wr.differ[d])/float64(max(wr.trials[d], 1)), lost)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func printFloods(w io.Writer, backends []string, floods map[string][]floodResult, flows int) {
	fmt.Fprintf(w, "### New flows per second through the NAT, agent not running (flood of up to %s flows from %d sockets, stopped after %v)\n\n",
		thousands(flows), floodSockets, enfFloodLimit)
	fmt.Fprintln(w, "| backend | rules | run | datagrams sent | conntrack entries created | new flows/s (created / flood time) | vs stock NAT, same run |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, b := range backends {
		rs := append([]floodResult(nil), floods[b]...)
		sort.SliceStable(rs, func(i, j int) bool { return configOrder(rs[i].config) < configOrder(rs[j].config) })
		for _, r := range rs {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %.0f | %.0f%% |\n", b, r.config, r.run, r.sent, r.created,
				r.rate(), 100*r.rate()/r.stockRate)
		}
	}
	fmt.Fprintln(w)
	printUpdates(w, backends, floods)
}

// printUpdates prints, per backend and number of pins, the time one
// update of one pin took, over every run.
func printUpdates(w io.Writer, backends []string, floods map[string][]floodResult) {
	fmt.Fprintf(w, "### One pin added or deleted through the backend, with the pins in place (%d of each per run, every run)\n\n", enfUpdates)
	fmt.Fprintln(w, "| backend | pins held | updates | p50 | p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, b := range backends {
		byPins := map[int][]time.Duration{}
		var counts []int
		for _, r := range floods[b] {
			if len(r.updates) == 0 {
				continue
			}
			if _, ok := byPins[r.pins]; !ok {
				counts = append(counts, r.pins)
			}
			byPins[r.pins] = append(byPins[r.pins], r.updates...)
		}
		sort.Ints(counts)
		for _, n := range counts {
			d := byPins[n]
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s |\n", b, thousands(n), len(d), dur(stats.Percentile(d, 50)), dur(stats.Percentile(d, 99)))
		}
	}
	fmt.Fprintln(w)
}

// configOrder sorts flood rows by their number of pins, stock first.
func configOrder(name string) int {
	switch {
	case strings.HasPrefix(name, "stock"):
		return 0
	case strings.Contains(name, " "+thousands(enfPinsMany)+" "):
		return 3
	case strings.Contains(name, " "+thousands(enfPinsSome)+" "):
		return 2
	}
	return 1
}

// dur prints a duration in µs below 1 ms, else in ms.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return "Linux " + unix.ByteSliceToString(u.Release[:])
}

func toolVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return name + " (unknown version)"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
