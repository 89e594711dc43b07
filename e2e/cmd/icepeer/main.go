// Command icepeer is one end of an ICE session for natp2p's end-to-end
// lab tests (see package icepeer): it writes its offer and then its result
// as JSON lines on stdout and reads the other end's offer on stdin.
//
//	icepeer [--controlling] --stun HOST:PORT [--turn HOST:PORT --user U --pass P]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/e2e/icepeer"
)

func main() {
	var cfg icepeer.Config
	flag.BoolVar(&cfg.Controlling, "controlling", false, "be the controlling agent")
	flag.StringVar(&cfg.STUN, "stun", "", "STUN server `host:port`")
	flag.StringVar(&cfg.TURN, "turn", "", "TURN server `host:port` (UDP)")
	flag.StringVar(&cfg.User, "user", "", "TURN user")
	flag.StringVar(&cfg.Pass, "pass", "", "TURN password")
	flag.DurationVar(&cfg.GatherTimeout, "gather-timeout", 3*time.Second, "candidate gathering bound")
	flag.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 8*time.Second, "connectivity checks bound")
	flag.DurationVar(&cfg.EchoTimeout, "echo-timeout", 2*time.Second, "ping and pong bound")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := icepeer.Run(ctx, cfg, os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
