// Command natp2p-agent reports whether this router's NAT keeps the
// endpoint-consistent mappings that peer-to-peer applications need
// (draft-ford-natp2p-00 section 3, RFC 4787, RFC 5382), and in enforce
// mode makes it keep them.
//
//	natp2p-agent run        follow conntrack and serve reports (the daemon)
//	natp2p-agent report     one screen: each check, its verdict and evidence
//	natp2p-agent mappings   the mapping table
//	natp2p-agent metrics    the report as Prometheus metrics
//	natp2p-agent probe      classify the NAT from outside (RFC 5780)
//	natp2p-agent dump       save what a report reads, for report --from
//	natp2p-agent check-config  validate /etc/config/natp2p
//	natp2p-agent cleanup    remove enforce mode's rules, restore timeouts
//	natp2p-agent version
//
// Exit status: 0 when no check fails, 1 when one does (report), 2 for usage
// and environment errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // a check failed
	exitUsage = 2 // usage or environment error
)

// errChecksFailed makes report exit 1 after printing.
var errChecksFailed = errors.New("a check failed")

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type command struct {
	name, summary string
	exec          func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"run", "follow conntrack and serve reports on the control socket (the daemon)", execRun},
	{"report", "print the compliance report (asks the daemon, or takes a snapshot)", execReport},
	{"mappings", "list the mapping table", execMappings},
	{"metrics", "print the Prometheus metrics (asks the daemon, or takes a snapshot)", execMetrics},
	{"probe", "classify this NAT from outside against an RFC 5780 introducer", execProbe},
	{"dump", "save flows, sysctls and interfaces for a report elsewhere (report --from)", execDump},
	{"check-config", "validate the UCI config (" + DefaultConfig + ") and flags without starting", execCheckConfig},
	{"cleanup", "remove enforce mode's rules and restore the conntrack timeouts", execCleanup},
	{"version", "print the version", execVersion},
}

// run executes one subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return exitCode(c.exec(ctx, args[1:], stdout, stderr), stderr)
		}
	}
	fmt.Fprintf(stderr, "natp2p-agent: unknown command %q (try 'natp2p-agent help')\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: natp2p-agent COMMAND [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\n'natp2p-agent COMMAND -h' lists a command's flags.\n")
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errChecksFailed):
		return exitFail
	}
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, errHelp) {
		if ue.msg != "" {
			fmt.Fprintf(stderr, "natp2p-agent: %s\n", ue.msg)
		}
		return exitUsage
	}
	fmt.Fprintf(stderr, "natp2p-agent: %s\n", explain(err))
	return exitUsage
}

func execVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "natp2p-agent %s\n", version)
	return err
}
