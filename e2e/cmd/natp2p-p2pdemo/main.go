//go:build linux

// Command natp2p-p2pdemo shows what a peer-to-peer application gains from
// natp2p (`make demo P2P=1`): in a throwaway two-router lab whose routers
// both masquerade fully-random, an ICE session (pion/ice) between a host
// behind each router goes through the TURN relay; with natp2p-agent's
// enforce mode on both routers it goes direct. It prints both sessions
// next to `natp2p-agent report` of one router, before and after. It needs
// root, and tears the lab down when it ends.
//
//	natp2p-p2pdemo --agent bin/natp2p-agent --introducer bin/natp2p-introducer --peer bin/icepeer [--backend nftables|iptables]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/natp2p/natp2p/e2e/icelab"
	"github.com/natp2p/natp2p/internal/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "natp2p-p2pdemo:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("natp2p-p2pdemo", flag.ContinueOnError)
	var bins icelab.Binaries
	fs.StringVar(&bins.Agent, "agent", "bin/natp2p-agent", "natp2p-agent binary `path`")
	fs.StringVar(&bins.Introducer, "introducer", "bin/natp2p-introducer", "natp2p-introducer binary `path`")
	fs.StringVar(&bins.Peer, "peer", "bin/icepeer", "icepeer binary `path` (built from e2e/cmd/icepeer)")
	backend := fs.String("backend", string(lab.Nftables), "the routers' firewall and enforce mode's `backend`: nftables or iptables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b := lab.Backend(*backend)
	if b != lab.Nftables && b != lab.Iptables {
		return fmt.Errorf("unknown --backend %q: use nftables or iptables", *backend)
	}
	if err := lab.Requirements(b); err != nil {
		return err
	}
	for _, bin := range []string{bins.Agent, bins.Introducer, bins.Peer} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("no binary at %s (make build; icepeer: cd e2e && go build -o ../bin/icepeer ./cmd/icepeer)", bin)
		}
	}
	return demo(ctx, stdout, bins, b)
}
