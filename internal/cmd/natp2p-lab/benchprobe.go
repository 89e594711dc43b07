//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
)

// benchProbe times a full classification by natp2p-agent probe and by
// coturn's turnutils_natdiscovery -m -f -H, against coturn's RFC 5780
// server in the lab (masquerade), runs times each, and prints the medians.
func benchProbe(ctx context.Context, w io.Writer, bin string, runs int) error {
	l, err := lab.New(ctx, lab.Config{})
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.StartCoturn(ctx); err != nil {
		return err
	}
	server := l.ServerAddrs[0].String()
	tools := []struct {
		name string
		argv []string
	}{
		{"natp2p-agent probe", []string{bin, "probe", "--json", "--introducer", net.JoinHostPort(server, "3478")}},
		{"natp2p-agent probe --no-tcp", []string{bin, "probe", "--json", "--no-tcp", "--introducer", net.JoinHostPort(server, "3478")}},
		{"turnutils_natdiscovery -m -f -H", []string{"turnutils_natdiscovery", "-m", "-f", "-H", server}},
	}
	fmt.Fprintf(w, "probe wall time, %d runs each, from a LAN host through masquerade to coturn (turnserver --stun-only)\n\n", runs)
	fmt.Fprintf(w, "%-34s %10s %10s %10s\n", "tool", "median", "min", "max")
	for _, tool := range tools {
		times, err := timeRuns(ctx, l.LAN[0], tool.argv, runs)
		if err != nil {
			return fmt.Errorf("%s: %w", tool.name, err)
		}
		fmt.Fprintf(w, "%-34s %10v %10v %10v\n", tool.name, times[len(times)/2].Round(time.Millisecond),
			times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	}
	return nil
}

func timeRuns(ctx context.Context, ns *lab.NS, argv []string, runs int) ([]time.Duration, error) {
	var times []time.Duration
	for i := 0; i < runs; i++ {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		start := time.Now()
		out, err := ns.Command(cctx, argv[0], argv[1:]...).CombinedOutput()
		took := time.Since(start)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%v\n%s", err, out)
		}
		times = append(times, took)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times, nil
}
