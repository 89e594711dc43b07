package introducer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"

	"github.com/natp2p/natp2p/probe/introducer"
)

// A server on two addresses, until interrupted.
func ExampleServer_Run() {
	s, err := introducer.New(introducer.Config{
		Primary:   netip.MustParseAddr("203.0.113.10"),
		Alternate: netip.MustParseAddr("203.0.113.11"),
		TCP:       true,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = s.Run(ctx, func(addrs []netip.AddrPort) { fmt.Println("serving", addrs) })
	if err != nil {
		fmt.Println(err) // e.g. introducer: listen udp4 203.0.113.10:3478: bind: ...
	}
}
