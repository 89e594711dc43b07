//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/labagent"
)

// demo builds a lab, starts the daemon in its router, makes traffic that
// shows both good and bad NAT behaviour, and prints what the agent says.
// In enforce mode it also shows natp2p's rules, and that cleanup removes
// them.
func demo(ctx context.Context, w io.Writer, bin, introducerBin, mode string, cfg lab.Config) error {
	if mode != "observe" && mode != "enforce" {
		return fmt.Errorf("unknown --mode %q: use observe or enforce", mode)
	}
	say(w, "building a throwaway lab: LAN 198.51.100.0/24 -> router (%s, %s) -> WAN 203.0.113.0/24",
		or(string(cfg.NAT), "masquerade"), or(string(cfg.Backend), "nftables"))
	l, err := lab.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		say(w, "tearing the lab down")
		l.Close()
	}()
	dir, err := os.MkdirTemp("", "natp2p-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a := labagent.New(l, bin, dir)
	say(w, "starting natp2p-introducer on the WAN host (%s and %s)", l.ServerAddrs[0], l.ServerAddrs[1])
	if err := l.StartIntroducer(ctx, introducerBin, "--log-level", "warn"); err != nil {
		return err
	}
	say(w, "starting natp2p-agent run --mode %s in the router (namespace %s), probing the introducer", mode, l.Router.Name)
	args := []string{"--introducer", netip.AddrPortFrom(l.ServerAddrs[0], 3478).String(), "--mode", mode}
	if mode == "enforce" {
		args = append(args, "--backend", or(string(cfg.Backend), "nftables"), "--lan", l.LANIface)
	}
	if err := a.Start(ctx, args...); err != nil {
		return err
	}
	if err := demoTraffic(ctx, w, l); err != nil {
		return err
	}
	waitProbes(ctx, a)
	for _, args := range [][]string{{"report"}, {"mappings"}} {
		say(w, "$ natp2p-agent %s", args[0])
		out, stderr, _, err := a.Run(ctx, append(args, "--socket", a.Socket)...)
		if err != nil {
			return err
		}
		fmt.Fprint(w, out, stderr)
	}
	if mode == "enforce" {
		return demoCleanup(ctx, w, l, a, cfg.Backend)
	}
	return nil
}

// demoCleanup shows natp2p's rules, stops the agent and runs cleanup.
func demoCleanup(ctx context.Context, w io.Writer, l *lab.Lab, a *labagent.Agent, fw lab.Backend) error {
	list := []string{"nft", "list", "table", "ip", "natp2p"}
	if fw == lab.Iptables {
		list = []string{"iptables", "-t", "nat", "-S", "NATP2P_POST"}
	}
	say(w, "$ %s", strings.Join(list, " "))
	out, err := l.Router.Run(ctx, list[0], list[1:]...)
	if err != nil {
		return err
	}
	fmt.Fprint(w, string(out))
	say(w, "stopping the agent (its rules stay, for a restart to adopt), then: $ natp2p-agent cleanup")
	if err := a.Daemon.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	l.Router.Wait(a.Daemon)
	stdout, stderr, _, err := a.Run(ctx, "cleanup", "--socket", a.Socket)
	fmt.Fprint(w, stdout, stderr)
	return err
}

func demoTraffic(ctx context.Context, w io.Writer, l *lab.Lab) error {
	var addrs []netip.AddrPort
	for _, s := range l.ServerAddrs {
		addrs = append(addrs, netip.AddrPortFrom(s, 4000), netip.AddrPortFrom(s, 4001)) // the introducer has 3478-3479
	}
	if err := l.WAN.UDPEcho(addrs...); err != nil {
		return err
	}
	if err := l.WAN.TCPEcho(addrs...); err != nil {
		return err
	}
	a, b := l.LAN[0], l.LAN[1]
	steps := []struct {
		what string
		host *lab.NS
		src  netip.AddrPort
		dsts []netip.AddrPort
	}{
		{"an app on host A talks to three servers from one UDP port", a, ap(a, 5000), addrs[:3]},
		{"host B uses the same UDP port for another server", b, ap(b, 5000), addrs[3:]},
	}
	for _, s := range steps {
		say(w, "traffic: %s: %s -> %v", s.what, s.src, s.dsts)
		if _, _, err := s.host.SendUDP(ctx, s.src, s.dsts...); err != nil {
			return err
		}
	}
	say(w, "traffic: host A opens two TCP connections from one port: %s -> %v", ap(a, 6000), addrs[:2])
	_, err := a.DialTCP(ctx, ap(a, 6000), addrs[:2]...)
	return err
}

// waitProbes waits (at most 10 s) for the daemon's first probes.
func waitProbes(ctx context.Context, a *labagent.Agent) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r, _, err := a.Report(ctx); err == nil && r.Probe != nil && r.Probe.LAN != nil && r.Probe.WAN != nil {
			return
		}
	}
}

func ap(h *lab.NS, port uint16) netip.AddrPort { return netip.AddrPortFrom(h.Addr(), port) }

func say(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "== "+format+"\n", args...)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
