//go:build linux

// Command natp2p-lab runs natp2p-agent in a throwaway network-namespace lab
// with a real kernel NAT: `demo` shows a report for some traffic, `bench`
// measures how the agent keeps up with a flood of new flows next to
// `conntrack -E`. It needs root, and tears the lab down when it ends.
//
//	natp2p-lab demo  --agent bin/natp2p-agent --introducer bin/natp2p-introducer [--nat PROFILE] [--backend nftables|iptables] [--mode observe|enforce]
//	natp2p-lab bench --agent bin/natp2p-agent [--flows N] [--runs N]
//	natp2p-lab bench-probe --agent bin/natp2p-agent [--runs N]
//	natp2p-lab bench-introducer --introducer bin/natp2p-introducer [--runs N]
//	natp2p-lab bench-enforce --agent bin/natp2p-agent [--flows N] [--runs N]
//	natp2p-lab bench-enforce-idle --agent bin/natp2p-agent (the idle-agent table alone)
//	natp2p-lab bench-enforce-floods --agent bin/natp2p-agent [--flows N] [--runs N] [--hairpin=false] [TARGET...]
//	    (the floods and updates alone; targets nftables, iptables-nft, iptables-legacy, default all)
//	natp2p-lab bench-fleet --agent bin/natp2p-agent [--routers 100,500] [--window 1m]
//	natp2p-lab fleet-snapshots --agent bin/natp2p-agent --introducer bin/natp2p-introducer [--out DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "natp2p-lab:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: natp2p-lab demo|bench|bench-probe|bench-introducer|bench-enforce|bench-enforce-idle|bench-enforce-floods|bench-fleet|fleet-snapshots [flags]")
	}
	fs := flag.NewFlagSet("natp2p-lab "+args[0], flag.ContinueOnError)
	agent := fs.String("agent", "bin/natp2p-agent", "natp2p-agent binary `path`")
	introducer := fs.String("introducer", "bin/natp2p-introducer", "natp2p-introducer binary `path`")
	nat := fs.String("nat", string(lab.Masquerade), "NAT `profile`: masquerade, masquerade-fully-random, snat-pool, dmz, double-nat or none")
	backend := fs.String("backend", string(lab.Nftables), "firewall `backend`: nftables or iptables")
	mode := fs.String("mode", "observe", "demo: the agent's `mode`: observe or enforce")
	wan := fs.String("wan-filter", string(lab.WANReject), "demo: what the router does with new connections from the WAN: "+
		"`filter` reject (a RST for TCP, as OpenWrt's fw4 does), drop, prohibit (ICMP) or open (no filter)")
	flows := fs.Int("flows", 50000, "bench: new flows per flood")
	runs := fs.Int("runs", 3, "bench: floods to run")
	hairpin := fs.Bool("hairpin", true, "bench-enforce-floods: natp2p's rules with hairpinning (false: the WAN SNAT alone, one rule a pin on iptables)")
	routers := fs.String("routers", "100,500", "bench-fleet: fleet `sizes`, comma-separated")
	window := fs.Duration("window", time.Minute, "bench-fleet: how long Prometheus scrapes (pushes: two intervals more)")
	rules := fs.String("rules", "fleet/natp2p.rules.yml", "bench-fleet: the recording and alerting rules `file` Prometheus loads")
	out := fs.String("out", "internal/fleetsim/testdata", "fleet-snapshots: `directory` for the reports")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := lab.Requirements(lab.Backend(*backend)); err != nil {
		return err
	}
	if _, err := os.Stat(*agent); err != nil {
		return fmt.Errorf("no natp2p-agent binary at %s (make build)", *agent)
	}
	switch args[0] {
	case "demo":
		filter := lab.WANFilter(*wan)
		if *wan == "open" {
			filter = lab.WANOpen
		}
		return demo(ctx, stdout, *agent, *introducer, *mode, lab.Config{NAT: lab.NAT(*nat), Backend: lab.Backend(*backend), WANFilter: filter})
	case "bench":
		return bench(ctx, stdout, *agent, *flows, *runs)
	case "bench-probe":
		return benchProbe(ctx, stdout, *agent, *runs)
	case "bench-introducer":
		return benchIntroducer(ctx, stdout, *introducer, *runs)
	case "bench-enforce":
		return benchEnforce(ctx, stdout, *agent, *flows, *runs)
	case "bench-enforce-idle":
		return benchEnforceIdle(ctx, stdout, *agent)
	case "bench-enforce-floods":
		return benchEnforceFloods(ctx, stdout, *flows, *runs, *hairpin, fs.Args())
	case "bench-fleet":
		sizes, err := parseSizes(*routers)
		if err != nil {
			return err
		}
		return benchFleet(ctx, stdout, fleetConfig{agent: *agent, prometheus: "prometheus", victoria: "victoria-metrics",
			rules: *rules, window: *window}, sizes)
	case "fleet-snapshots":
		return fleetSnapshots(ctx, stdout, *agent, *introducer, *out)
	}
	return fmt.Errorf("unknown command %q: use demo, bench, bench-probe, bench-introducer, bench-enforce, bench-enforce-idle, bench-enforce-floods, bench-fleet or fleet-snapshots", args[0])
}
