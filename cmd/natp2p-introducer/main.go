// Command natp2p-introducer is natp2p's public STUN server: an RFC 5780
// NAT behaviour discovery server on two IP addresses and two ports, which
// natp2p-agent probes from the LAN side to classify its NAT.
//
//	natp2p-introducer --primary 203.0.113.10 --alternate 203.0.113.11
//	natp2p-introducer version
//
// Without --alternate it runs in RFC 5780 degraded single-IP mode and says
// so at start. It stops cleanly on SIGINT or SIGTERM. Exit status: 0 after
// a clean stop, 2 for bad flags or when it cannot bind its sockets.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses.
const (
	exitOK    = 0
	exitUsage = 2 // bad flags, or cannot serve (bind)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs the command line and returns the exit status.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintf(stdout, "natp2p-introducer %s\n", version)
		return exitOK
	}
	cfg, err := parseFlags(args, stderr)
	if err == nil {
		err = run(ctx, cfg, stdout)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitUsage
	}
	fmt.Fprintf(stderr, "natp2p-introducer: %s\n", strings.TrimPrefix(err.Error(), "introducer: "))
	return exitUsage
}
