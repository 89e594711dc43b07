package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/natp2p/natp2p/probe/introducer"
)

// run serves cfg until ctx is done, printing what it serves to stdout
// once its sockets are bound.
func run(ctx context.Context, cfg introducer.Config, stdout io.Writer) error {
	s, err := introducer.New(cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx, func(addrs []netip.AddrPort) { banner(stdout, s.Config(), s.Degraded(), addrs) })
}

// banner says what the server serves, and loudly when it is degraded;
// cfg has its defaults filled in (Server.Config).
func banner(w io.Writer, cfg introducer.Config, degraded bool, addrs []netip.AddrPort) {
	proto := "udp"
	if cfg.TCP {
		proto = "udp+tcp"
	}
	if degraded {
		fmt.Fprintf(w, "natp2p-introducer %s: STUN Binding server (RFC 8489)\n", version)
	} else {
		fmt.Fprintf(w, "natp2p-introducer %s: RFC 5780 NAT behaviour discovery server\n", version)
	}
	roles := []string{"primary address, primary port", "primary address, alternate port",
		"alternate address, primary port", "alternate address, alternate port"}
	for i, a := range addrs {
		fmt.Fprintf(w, "  %-7s %-21s %s\n", proto, a, roles[i])
	}
	if degraded {
		fmt.Fprintf(w, "  DEGRADED single-IP mode (no --alternate): no OTHER-ADDRESS, CHANGE-REQUEST gets 420;\n"+
			"  clients learn their mapped address but cannot classify NAT mapping or filtering (RFC 5780 section 6)\n")
	}
	fmt.Fprintf(w, "  rate limit: %s\n", rateLine(cfg))
	fmt.Fprintf(w, "  global bound: %s\n", globalLine(cfg))
	if cfg.TCP {
		fmt.Fprintf(w, "  tcp: %s\n", tcpLine(cfg))
	}
}

func globalLine(cfg introducer.Config) string {
	if cfg.GlobalRate < 0 {
		return "off"
	}
	return fmt.Sprintf("%g UDP replies/s in total", cfg.GlobalRate)
}

func tcpLine(cfg introducer.Config) string {
	return fmt.Sprintf("at most %d connections per source, %d in all, each for %v and %d requests",
		cfg.TCPConnsPerSource, cfg.TCPConns, cfg.TCPLife, cfg.TCPRequests)
}

func rateLine(cfg introducer.Config) string {
	if cfg.Rate < 0 {
		return "off"
	}
	return fmt.Sprintf("%g requests/s per source, burst %d, at most %d sources tracked", cfg.Rate, cfg.Burst, cfg.MaxSources)
}
