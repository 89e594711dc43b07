package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/natp2p/natp2p/agent"
)

// errHelp: -h was asked for; the usage is printed, exit 2 as flag does.
var errHelp = flag.ErrHelp

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("natp2p-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags and rejects stray arguments. -h prints the flags;
// any other problem is one line with a hint, not the whole usage.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	cmd := strings.TrimPrefix(fs.Name(), "natp2p-agent ")
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(out, "usage: %s [flags]\n", fs.Name())
		fs.PrintDefaults()
		return errHelp
	case err != nil:
		return usageError{fmt.Sprintf("%s: %v (see '%s -h')", cmd, err, fs.Name())}
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// common are the flags every kernel-reading command shares: the options
// wan, lan and socket of agent.Options, and where procfs is.
type common struct {
	flags        agent.Flags
	procfs       string
	format, from string
	json         bool
	cfg          agent.Config // set by resolve
}

func (c *common) register(fs *flag.FlagSet, output bool) {
	c.flags.Register(fs, "wan", "lan", "socket")
	fs.StringVar(&c.procfs, "path.procfs", "/proc", "procfs mount `path`")
	if output {
		fs.StringVar(&c.from, "from", "", "report on a snapshot `file` saved by natp2p-agent dump instead of this router")
		fs.StringVar(&c.format, "format", "", "output `format`: \"\" (text), json or json-line")
		fs.BoolVar(&c.json, "json", false, "same as --format json")
	}
}

// resolve sets c.cfg from the defaults and the flags.
func (c *common) resolve() error {
	s := agent.DefaultSettings()
	if err := c.flags.Apply(&s); err != nil {
		return usageError{err.Error()}
	}
	c.cfg = agent.Config{WAN: s.WAN, LAN: s.LAN, Socket: s.Socket, System: agent.System{Proc: c.procfs}, Version: version}
	return nil
}

func (c *common) outputFormat() (string, error) {
	if c.json {
		if c.format != "" && c.format != "json" {
			return "", usageError{"--json and --format " + c.format + " disagree"}
		}
		return "json", nil
	}
	switch c.format {
	case "", "json", "json-line":
		return c.format, nil
	}
	return "", usageError{fmt.Sprintf("unknown --format %q: use json, json-line or nothing for text", c.format)}
}

// explain turns an error into one actionable line.
func explain(err error) string {
	switch {
	case errors.Is(err, agent.ErrNoConntrack):
		return agent.ErrNoConntrack.Error()
	case errors.Is(err, os.ErrPermission):
		var op *agent.OpError
		if errors.As(err, &op) {
			return fmt.Sprintf("permission denied (conntrack %s): run as root; reading conntrack needs CAP_NET_ADMIN", op.Op)
		}
		return fmt.Sprintf("%v: run as root", err)
	}
	return err.Error()
}
