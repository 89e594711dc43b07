package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/natp2p/natp2p/agent"
	"github.com/natp2p/natp2p/enforce"
)

// DefaultConfig is where OpenWrt keeps the package's UCI config.
const DefaultConfig = "/etc/config/natp2p"

// daemonFlags are run's and check-config's flags: a UCI config file, and
// flags that override its options.
type daemonFlags struct {
	common
	config, mode, level string
	buf                 int
	introducer, from    string
	netns               bool
	netnsAddr           string
	interval            time.Duration
	enforce             enforceFlags
}

// enforceFlags are enforce mode's settings; the config file sets them
// (command-line flags exist for the backend, the UDP timeout and port
// preservation).
type enforceFlags struct {
	backend                    string
	mapping, hairpin, timeouts bool
	udpTimeout                 int
	grace                      time.Duration
	quota                      int
	preserve                   bool
}

func (d *daemonFlags) register(fs *flag.FlagSet, configDefault string) {
	d.common.register(fs, false)
	fs.StringVar(&d.config, "config", configDefault, "UCI config `file` (flags override its options)")
	fs.StringVar(&d.mode, "mode", agent.ModeObserve, "`mode`: observe (report only) or enforce (pin mappings, hairpin, raise timeouts)")
	def := agent.DefaultEnforce()
	d.enforce = enforceFlags{mapping: def.Mapping, hairpin: def.Hairpin, timeouts: def.Timeouts,
		grace: def.PinGrace, quota: def.PinQuota}
	fs.StringVar(&d.enforce.backend, "backend", def.Backend, "enforce mode's firewall `backend`: auto, nftables or iptables")
	fs.BoolVar(&d.enforce.preserve, "preserve-ports", false, "enforce mode, iptables backend: natp2p masquerades new LAN flows "+
		"without a pin itself, keeping their ports, ahead of the router's NAT (endpoint-independent at once under a fully-random NAT)")
	fs.IntVar(&d.enforce.udpTimeout, "udp-timeout", def.UDPTimeout, "enforce mode raises the conntrack UDP timeouts to this many `seconds` (at least 120)")
	fs.IntVar(&d.buf, "event-buffer", agent.DefaultReadBuffer, "conntrack event socket receive buffer in `bytes`")
	fs.StringVar(&d.level, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&d.introducer, "introducer", "", "RFC 5780 introducer `host[:port]` to probe (default: no probes)")
	fs.DurationVar(&d.interval, "probe-interval", agent.DefaultProbeInterval, "how often to probe (at least 1m)")
	fs.StringVar(&d.from, "probe-from", "", "the router's LAN-side `address` to probe from without a namespace; the namespace joins its LAN bridge (default: the first LAN address)")
	fs.BoolVar(&d.netns, "probe-netns", true, "probe from a throwaway network namespace on the LAN bridge, as a LAN host (measures hairpinning); false: from the router's LAN address")
	fs.StringVar(&d.netnsAddr, "probe-netns-addr", "", "the namespace's IPv4 `address` in the LAN prefix (default: the highest one that is not the router's, not leased and that no host answers for)")
}

// resolve merges the config file under the flags that were set and checks
// the result.
func (d *daemonFlags) resolve(fs *flag.FlagSet) (agent.Config, slog.Level, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if d.config != "" {
		fc, err := agent.LoadConfig(d.config)
		if err != nil {
			return agent.Config{}, 0, err
		}
		d.merge(fc, set)
	}
	var lv slog.Level
	switch {
	case agent.CheckMode(d.mode) != nil:
		return agent.Config{}, 0, usageError{"--mode: " + agent.CheckMode(d.mode).Error()}
	case agent.CheckBackend(d.enforce.backend) != nil:
		return agent.Config{}, 0, usageError{"--backend: " + agent.CheckBackend(d.enforce.backend).Error()}
	case d.enforce.udpTimeout < enforce.MinUDPTimeout:
		return agent.Config{}, 0, usageError{fmt.Sprintf("--udp-timeout %d: at least %d s (RFC 4787 REQ-5)", d.enforce.udpTimeout, enforce.MinUDPTimeout)}
	case lv.UnmarshalText([]byte(d.level)) != nil:
		return agent.Config{}, 0, usageError{fmt.Sprintf("--log-level %q: use debug, info, warn or error", d.level)}
	case d.buf < 4096:
		return agent.Config{}, 0, usageError{fmt.Sprintf("--event-buffer %d: at least 4096 bytes", d.buf)}
	case d.interval < time.Minute:
		return agent.Config{}, 0, usageError{fmt.Sprintf("--probe-interval %v: probe at most once a minute", d.interval)}
	}
	cfg := d.common.config()
	cfg.ReadBuffer, cfg.Introducer, cfg.ProbeInterval = d.buf, d.introducer, d.interval
	if d.mode == agent.ModeEnforce {
		e := d.enforce
		cfg.Enforce = &agent.EnforceConfig{Backend: e.backend, Mapping: e.mapping, Hairpin: e.hairpin,
			Timeouts: e.timeouts, UDPTimeout: e.udpTimeout, PinGrace: e.grace, PinQuota: e.quota, PreservePorts: e.preserve}
	}
	if d.from != "" {
		var err error
		if cfg.ProbeFrom, err = netip.ParseAddr(d.from); err != nil {
			return agent.Config{}, 0, usageError{fmt.Sprintf("--probe-from %q is not an IP address", d.from)}
		}
	}
	cfg.NoProbeNetns = !d.netns
	if d.netnsAddr != "" {
		if err := agent.CheckIPv4(d.netnsAddr); err != nil {
			return agent.Config{}, 0, usageError{"--probe-netns-addr " + err.Error()}
		}
		cfg.ProbeNetnsAddr = netip.MustParseAddr(d.netnsAddr)
	}
	return cfg, lv, nil
}

// merge takes the file's options for the flags not set on the command line.
func (d *daemonFlags) merge(fc agent.FileConfig, set map[string]bool) {
	take := func(flag string, dst *string, v string) {
		if !set[flag] && v != "" {
			*dst = v
		}
	}
	take("mode", &d.mode, fc.Mode)
	take("log-level", &d.level, fc.LogLevel)
	take("wan", &d.wan, fc.WAN)
	take("socket", &d.socket, fc.Socket)
	if !set["lan"] && len(fc.LAN) > 0 {
		d.lan = joinComma(fc.LAN)
	}
	if !set["event-buffer"] && fc.EventBuffer != 0 {
		d.buf = fc.EventBuffer
	}
	take("introducer", &d.introducer, fc.Introducer)
	take("probe-from", &d.from, fc.ProbeFrom)
	take("probe-netns-addr", &d.netnsAddr, fc.ProbeNetnsAddr)
	if !set["probe-netns"] && fc.ProbeNetns != nil {
		d.netns = *fc.ProbeNetns
	}
	if !set["probe-interval"] && fc.ProbeInterval != 0 {
		d.interval = fc.ProbeInterval
	}
	take("backend", &d.enforce.backend, fc.Backend)
	if !set["udp-timeout"] && fc.UDPTimeout != 0 {
		d.enforce.udpTimeout = fc.UDPTimeout
	}
	for _, sw := range []struct {
		dst *bool
		v   *bool
	}{{&d.enforce.mapping, fc.EnforceMapping}, {&d.enforce.hairpin, fc.EnforceHairpin}, {&d.enforce.timeouts, fc.EnforceTimeouts}} {
		if sw.v != nil {
			*sw.dst = *sw.v
		}
	}
	if !set["preserve-ports"] && fc.PreservePorts != nil {
		d.enforce.preserve = *fc.PreservePorts
	}
	if fc.PinGrace != 0 {
		d.enforce.grace = fc.PinGrace
	}
	if fc.PinQuota != 0 {
		d.enforce.quota = fc.PinQuota
	}
}

func execRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	var d daemonFlags
	d.register(fs, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, lv, err := d.resolve(fs)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	a, err := agent.New(cfg)
	if err != nil {
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
	cfg, _, err := d.resolve(fs)
	if err != nil {
		return err
	}
	wan := cfg.WAN
	if wan == "" {
		wan = "the default route's"
	}
	_, err = fmt.Fprintf(stdout, "%s: ok (mode %s, WAN %s, log level %s)\n", d.config, d.mode, wan, d.level)
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
	socket := fs.String("socket", agent.DefaultSocket, "the daemon's control socket `path` (the state file lies beside it)")
	config := fs.String("config", "", "UCI config `file` whose socket option to use")
	procfs := fs.String("path.procfs", "/proc", "procfs mount `path`")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *config != "" && !set["socket"] {
		// A config broken since the daemon started must not keep its
		// rules in place: fall back to the default socket.
		fc, err := agent.LoadConfig(*config)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "natp2p-agent cleanup: %v; using the default socket %s\n", err, *socket)
		case fc.Socket != "":
			*socket = fc.Socket
		}
	}
	// The init scripts run cleanup right after signalling the daemon, which
	// answers until its last rule change is done: wait for it a little.
	for deadline := time.Now().Add(cleanupWait); answers(*socket); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("natp2p-agent is running (%s answers): stop it first, or it puts its rules back", *socket)
		}
	}
	if err := agent.Cleanup(agent.System{Proc: *procfs}, agent.StatePath(*socket)); err != nil {
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
	a, err := agent.New(c.config())
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
