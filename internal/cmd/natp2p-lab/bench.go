//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/labagent"
)

// Bench parameters: sockets per flood (each its own private endpoint), how
// long to wait for the agent and conntrack -E to settle.
const (
	floodSockets = 1000
	catchUpLimit = 60 * time.Second
	quietPeriod  = time.Second
)

// result is one flood's figures.
type result struct {
	flows              int
	rate               float64 // new flows per second the flood created
	ctSeen             int64   // NEW events conntrack -E printed
	agentEqual         bool    // the agent's table equals conntrack -L
	catchUp            time.Duration
	overflows, resyncs uint64
	rssPerFlow         float64
	rss                int64 // the daemon's resident memory holding every flow
}

// bench floods a fresh lab `runs` times and prints one row per flood.
func bench(ctx context.Context, w io.Writer, bin string, flows, runs int) error {
	fmt.Fprintf(w, "natp2p-agent whole-system benchmark: %d new UDP flows per flood from %d private endpoints, %d floods\n",
		flows, floodSockets, runs)
	fmt.Fprintf(w, "kernel conntrack entry: %s\n\n", kernelEntrySize())
	var results []result
	for i := 1; i <= runs; i++ {
		r, err := benchOnce(ctx, bin, flows)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tflows\tflood flows/s\tconntrack -E NEW seen\tconntrack -E lost\tagent lost mappings\tagent overflows/resyncs\tagent table equal after\tagent RSS B/flow\tagent RSS\t")
	for i, r := range results {
		lost := "0"
		if !r.agentEqual {
			lost = "table differs"
		}
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%d\t%.1f%%\t%s\t%d/%d\t%v\t%.0f\t%.1f MiB\t\n", i+1, r.flows, r.rate, r.ctSeen,
			100*(1-float64(r.ctSeen)/float64(r.flows)), lost, r.overflows, r.resyncs, r.catchUp.Round(time.Millisecond),
			r.rssPerFlow, float64(r.rss)/(1<<20))
	}
	return tw.Flush()
}

func benchOnce(ctx context.Context, bin string, flows int) (result, error) {
	res := result{flows: flows}
	l, err := lab.New(ctx, lab.Config{UDPTimeout: 600})
	if err != nil {
		return res, err
	}
	defer l.Close()
	dir, err := os.MkdirTemp("", "natp2p-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	a := labagent.New(l, bin, dir)
	if err := a.Start(ctx); err != nil {
		return res, err
	}
	rss0, err := a.RSS()
	if err != nil {
		return res, err
	}
	var seen atomic.Int64
	stopCT, err := countNewEvents(ctx, l, &seen)
	if err != nil {
		return res, err
	}
	defer stopCT()
	sent, took, err := l.LAN[0].FloodUDP(ctx, l.ServerAddrs, flows, floodSockets)
	if err != nil {
		return res, err
	}
	res.rate = float64(sent) / took.Seconds()
	start := time.Now()
	// RSS is read once the agent holds every flow, before the mapping
	// listings below allocate for their answers.
	if err := agentFigures(ctx, a, rss0, &res); err != nil {
		return res, err
	}
	res.agentEqual = waitEqual(ctx, l, a)
	res.catchUp = time.Since(start)
	res.ctSeen = settle(&seen)
	return res, nil
}

// waitEqual waits until the agent's mappings equal the kernel's.
func waitEqual(ctx context.Context, l *lab.Lab, a *labagent.Agent) bool {
	deadline := time.Now().Add(catchUpLimit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		want, err1 := labagent.KernelMappings(ctx, l)
		got, err2 := a.Mappings(ctx)
		if err1 == nil && err2 == nil && cmp.Equal(want, got) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// agentFigures waits (bounded) until the agent's report counts every
// flooded flow, then takes its event counters and resident memory.
func agentFigures(ctx context.Context, a *labagent.Agent, rss0 int64, res *result) error {
	deadline := time.Now().Add(catchUpLimit)
	for {
		r, _, err := a.Report(ctx)
		if err != nil {
			return err
		}
		if r.Conntrack != nil {
			res.overflows, res.resyncs = r.Conntrack.Overflows, r.Conntrack.Resyncs
		}
		if r.Flows.UDP >= res.flows || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss, err := a.RSS()
	res.rss, res.rssPerFlow = rss, float64(rss-rss0)/float64(res.flows)
	return err
}

// countNewEvents runs `conntrack -E -e NEW` (default buffer) in the router
// and counts the events it prints.
func countNewEvents(ctx context.Context, l *lab.Lab, n *atomic.Int64) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := l.Router.Command(ctx, "conntrack", "-E", "-e", "NEW", "-p", "udp")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n.Add(1)
		}
	}()
	time.Sleep(200 * time.Millisecond) // let it subscribe before the flood
	return func() { cancel(); cmd.Wait() }, nil
}

// settle waits until the counter stops moving.
func settle(n *atomic.Int64) int64 {
	last := n.Load()
	for i := 0; i < 30; i++ {
		time.Sleep(quietPeriod)
		if cur := n.Load(); cur == last {
			return cur
		} else {
			last = cur
		}
	}
	return last
}

// kernelEntrySize reads the nf_conntrack slab's object size.
func kernelEntrySize() string {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "nf_conntrack" {
			if size, err := strconv.Atoi(f[3]); err == nil {
				return fmt.Sprintf("%d bytes (nf_conntrack slab object)", size)
			}
		}
	}
	return "unknown (no nf_conntrack slab)"
}
