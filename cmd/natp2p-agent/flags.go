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

// parse parses flags and rejects stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{} // flag has printed the problem and the usage
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// common are the flags every kernel-reading command shares.
type common struct {
	wan, lan, socket, format string
	json                     bool
	procfs, from             string
}

func (c *common) register(fs *flag.FlagSet, output bool) {
	fs.StringVar(&c.wan, "wan", "", "WAN `interface` (default: the IPv4 default route's)")
	fs.StringVar(&c.lan, "lan", "", "comma-separated LAN `interfaces` (default: the others with an IPv4 address)")
	fs.StringVar(&c.socket, "socket", agent.DefaultSocket, "control socket `path`")
	fs.StringVar(&c.procfs, "path.procfs", "/proc", "procfs mount `path`")
	if output {
		fs.StringVar(&c.from, "from", "", "report on a snapshot `file` saved by natp2p-agent dump instead of this router")
		fs.StringVar(&c.format, "format", "", "output `format`: \"\" (text), json or json-line")
		fs.BoolVar(&c.json, "json", false, "same as --format json")
	}
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

func (c *common) config() agent.Config {
	cfg := agent.Config{WAN: c.wan, Socket: c.socket, System: agent.System{Proc: c.procfs}}
	for _, l := range strings.Split(c.lan, ",") {
		if l = strings.TrimSpace(l); l != "" {
			cfg.LAN = append(cfg.LAN, l)
		}
	}
	return cfg
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

func joinComma(s []string) string { return strings.Join(s, ",") }
