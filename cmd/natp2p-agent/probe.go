package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/natp2p/natp2p/agent"
	"github.com/natp2p/natp2p/probe"
)

func execProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", stderr)
	var c common
	introducer := fs.String("introducer", "", "introducer `host[:port]` (an RFC 5780 server, e.g. natp2p-introducer)")
	second := fs.String("second", "", "another STUN server `host[:port]` on another address, for an introducer without RFC 5780")
	local := fs.String("local", "", "local `address` to probe from (a vantage point; default: by route)")
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "how long a test waits for an answer")
	noTCP := fs.Bool("no-tcp", false, "skip the TCP mapping test")
	upstreamFrom := fs.String("upstream-from", "", "on the router: its WAN `address`; also probe from it and split the verdicts between this router and an upstream NAT")
	lifetime := fs.Bool("lifetime", false, "also measure how long an idle UDP mapping lives (takes up to --lifetime-max)")
	step := fs.Duration("lifetime-step", 10*time.Second, "resolution of the lifetime search")
	max := fs.Duration("lifetime-max", 5*time.Minute, "longest lifetime to look for")
	fs.StringVar(&c.format, "format", "", "output `format`: \"\" (text), json or json-line")
	fs.BoolVar(&c.json, "json", false, "same as --format json")
	if err := parse(fs, args); err != nil {
		return err
	}
	format, err := c.outputFormat()
	if err != nil {
		return err
	}
	cfg, err := probeConfig(ctx, *introducer, *local)
	if err != nil {
		return err
	}
	cfg.Timeout, cfg.NoTCP = *timeout, *noTCP
	if *second != "" {
		if cfg.Second, err = agent.ResolveIntroducer(ctx, *second); err != nil {
			return err
		}
	}
	client, err := probe.New(cfg)
	if err != nil {
		return usageError{err.Error()}
	}
	r, err := client.Run(ctx)
	if err != nil {
		return err
	}
	if *upstreamFrom != "" {
		if err := attribute(ctx, r, cfg, *upstreamFrom); err != nil {
			return err
		}
	}
	if *lifetime {
		fmt.Fprintf(stderr, "natp2p-agent: measuring the mapping lifetime, up to %v\n", *max)
		l, err := client.Lifetime(ctx, *step, *max)
		if err != nil {
			return err
		}
		r.Lifetime = &l
	}
	return writeProbe(stdout, r, format)
}

func probeConfig(ctx context.Context, introducer, local string) (probe.Config, error) {
	if introducer == "" {
		return probe.Config{}, usageError{"probe: name an introducer with --introducer HOST[:PORT]"}
	}
	to, err := agent.ResolveIntroducer(ctx, introducer)
	if err != nil {
		return probe.Config{}, err
	}
	cfg := probe.Config{Introducer: to}
	if local != "" {
		if cfg.Local, err = netip.ParseAddr(local); err != nil {
			return probe.Config{}, usageError{fmt.Sprintf("--local %q is not an IP address", local)}
		}
	}
	return cfg, nil
}

// attribute probes again from the WAN address and splits r between this
// router and an upstream NAT.
func attribute(ctx context.Context, r *probe.Report, cfg probe.Config, from string) error {
	wanAddr, err := netip.ParseAddr(from)
	if err != nil {
		return usageError{fmt.Sprintf("--upstream-from %q is not an IP address", from)}
	}
	cfg.Local = wanAddr
	client, err := probe.New(cfg)
	if err != nil {
		return err
	}
	wan, err := client.Run(ctx)
	if err != nil {
		return fmt.Errorf("probe from the WAN address: %w", err)
	}
	probe.Attribute(r, wan, wanAddr)
	return nil
}

func writeProbe(w io.Writer, r *probe.Report, format string) error {
	return write(w, format, r, func() error { return probe.WriteText(w, r) })
}
