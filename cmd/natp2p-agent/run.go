package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/natp2p/natp2p/agent"
	"github.com/natp2p/natp2p/internal/logx"
)

// DefaultConfig is where OpenWrt keeps the package's UCI config.
const DefaultConfig = "/etc/config/natp2p"

// daemonFlags are run's and check-config's flags: a UCI config file, and a
// flag for each of agent.Options that overrides the file's option.
type daemonFlags struct {
	config, procfs string
	flags          agent.Flags
}

func (d *daemonFlags) register(fs *flag.FlagSet, configDefault string) {
	fs.StringVar(&d.config, "config", configDefault, "UCI config `file` (flags override its options)")
	fs.StringVar(&d.procfs, "path.procfs", "/proc", "procfs mount `path`")
	d.flags.Register(fs)
}

// resolve reads the config file, if any, and puts the flags over it.
func (d *daemonFlags) resolve() (agent.Settings, error) {
	s := agent.DefaultSettings()
	if d.config != "" {
		var err error
		if s, err = agent.LoadConfig(d.config); err != nil {
			return s, err
		}
	}
	if err := d.flags.Apply(&s); err != nil {
		return s, usageError{err.Error()}
	}
	return s, nil
}

func execRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	var d daemonFlags
	d.register(fs, "")
	rootfs := fs.String("path.rootfs", "/", "root `path` the router's model and firmware are read under, for natp2p_device_info")
	replay := fs.String("replay", "", "serve the report saved by 'natp2p-agent report --json' in `file` instead of watching this router (fleet simulations, demos; needs no root)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := d.resolve()
	if err != nil {
		return err
	}
	cfg := s.Config()
	cfg.System = agent.System{Proc: d.procfs}
	cfg.Version, cfg.DeviceRoot = version, *rootfs
	cfg.Logger = logx.New(s.LogTarget, "natp2p-agent", s.Level(), stderr)
	var a *agent.Agent
	if *replay != "" {
		r, err := agent.ReadReport(*replay)
		if err != nil {
			return err
		}
		a = agent.Replay(r, cfg)
	} else if a, err = agent.New(cfg); err != nil {
		return err
	}
	return a.Run(ctx, nil)
}

// execCheckConfig validates the config file and flags as run would read
// them, without touching the kernel or the interfaces (so it also runs on a
// build host or under qemu).
func execCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check-config", stderr)
	var d daemonFlags
	d.register(fs, DefaultConfig)
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := d.resolve()
	if err != nil {
		return err
	}
	if err := s.Check(); err != nil {
		if d.config != "" {
			err = fmt.Errorf("%s: %w", d.config, err)
		}
		return err
	}
	wan := s.WAN
	if wan == "" {
		wan = "the default route's"
	}
	_, err = fmt.Fprintf(stdout, "%s: ok (mode %s, WAN %s, log level %s)\n", d.config, s.Mode, wan, s.LogLevel)
	return err
}

// cleanupWait bounds how long cleanup waits for a stopping daemon.
const cleanupWait = 5 * time.Second

// answers reports whether a daemon answers on socket.
func answers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// execCleanup removes every trace of enforce mode: natp2p's nftables
// table, its iptables chains, and the conntrack timeouts it raised, put
// back from the state file. The init scripts run it when the daemon stops.
func execCleanup(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cleanup", stderr)
	var flags agent.Flags
	flags.Register(fs, "socket")
	config := fs.String("config", "", "UCI config `file` whose socket option to use")
	procfs := fs.String("path.procfs", "/proc", "procfs mount `path`")
	if err := parse(fs, args); err != nil {
		return err
	}
	s := agent.DefaultSettings()
	if *config != "" && !flags.Given("socket") {
		// A config broken since the daemon started must not keep its
		// rules in place: fall back to the default socket.
		fc, err := agent.LoadConfig(*config)
		if err != nil {
			fmt.Fprintf(stderr, "natp2p-agent cleanup: %v; using the default socket %s\n", err, s.Socket)
		} else {
			s = fc
		}
	}
	if err := flags.Apply(&s); err != nil {
		return usageError{err.Error()}
	}
	socket := s.Socket
	// The init scripts run cleanup right after signalling the daemon, which
	// answers until its last rule change is done: wait for it a little.
	for deadline := time.Now().Add(cleanupWait); answers(socket); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("natp2p-agent is running (%s answers): stop it first, or it puts its rules back", socket)
		}
	}
	if err := agent.Cleanup(agent.System{Proc: *procfs}, agent.StatePath(socket)); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, "natp2p: enforcement rules removed, conntrack timeouts restored")
	return err
}

// execDump saves what a report reads (flows, sysctls, interfaces) as a
// natp2p.snapshot/v1 document, for `report --from` elsewhere.
func execDump(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dump", stderr)
	var c common
	c.register(fs, false)
	output := fs.String("output", "-", "`file` to write, - for stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.resolve(); err != nil {
		return err
	}
	a, err := agent.New(c.cfg)
	if err != nil {
		return err
	}
	snap, err := a.Save(ctx)
	if err != nil {
		return err
	}
	w := stdout
	if *output != "-" {
		f, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(snap)
}
