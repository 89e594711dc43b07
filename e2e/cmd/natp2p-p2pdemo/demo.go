//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/natp2p/natp2p/e2e/icelab"
	"github.com/natp2p/natp2p/internal/lab"
)

const turnUser, turnPass = "natp2p", "demo-only"

// stage is one half of the demo: the agents' mode and the session's outcome.
type stage struct {
	name  string
	args  []string // natp2p-agent run flags
	flush bool     // clear the routers' conntrack tables first
	out   icelab.Outcome
}

// demo builds the lab, runs a session with natp2p in observe mode and
// one in enforce mode, and prints both.
func demo(ctx context.Context, w io.Writer, bins icelab.Binaries, b lab.Backend) error {
	nat := lab.MasqueradeFullyRandom
	say(w, "building a throwaway lab: two routers (%s, %s), each with its LAN, on one WAN", nat, b)
	l, err := lab.New(ctx, lab.Config{NAT: nat, Backend: b, LANHosts: 1, Second: &lab.SiteConfig{NAT: nat, Backend: b}})
	if err != nil {
		return err
	}
	defer func() {
		say(w, "tearing the lab down")
		l.Close()
	}()
	say(w, "LAN A %s -> router A (WAN %s) | LAN B %s -> router B (WAN %s)",
		l.LAN[0].Addr(), l.Public, l.Second.LAN[0].Addr(), l.Second.Public)
	if err := startServers(ctx, w, l, bins); err != nil {
		return err
	}
	enforce := []string{"--mode", "enforce", "--backend", string(b)}
	if b == lab.Iptables {
		enforce = append(enforce, "--preserve-ports")
	}
	stages := []*stage{{name: "before", args: []string{"--mode", "observe"}}, {name: "after", args: enforce, flush: true}}
	for _, st := range stages {
		if err := runStage(ctx, w, l, bins, st); err != nil {
			return err
		}
	}
	summary(w, stages)
	return nil
}

func startServers(ctx context.Context, w io.Writer, l *lab.Lab, bins icelab.Binaries) error {
	say(w, "WAN: natp2p-introducer (STUN) on %s and %s, coturn (TURN) on %s", l.ServerAddrs[0], l.ServerAddrs[1], l.TURNAddr)
	if err := l.StartIntroducer(ctx, bins.Introducer, "--log-level", "warn"); err != nil {
		return err
	}
	return l.StartTURN(ctx, turnUser, turnPass)
}

// runStage starts the agents with st.args on both routers, runs one ICE
// session from LAN A to LAN B, prints it and router A's report, and stops
// the agents.
func runStage(ctx context.Context, w io.Writer, l *lab.Lab, bins icelab.Binaries, st *stage) error {
	dir, err := os.MkdirTemp("", "natp2p-p2pdemo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if st.flush {
		if err := flush(ctx, w, l); err != nil {
			return err
		}
	}
	say(w, "%s: natp2p-agent run %s on both routers", st.name, strings.Join(st.args, " "))
	introducer := netip.AddrPortFrom(l.ServerAddrs[0], lab.STUNPort).String()
	var agents []*icelab.Agent
	for i, s := range l.Sites() {
		a, err := icelab.StartAgent(ctx, s, bins.Agent, fmt.Sprintf("%s/%d", dir, i), append(st.args, "--introducer", introducer)...)
		if err != nil {
			return err
		}
		agents = append(agents, a)
	}
	sess := icelab.Session{Peer: bins.Peer, STUN: netip.AddrPortFrom(l.ServerAddrs[0], lab.STUNPort),
		TURN: netip.AddrPortFrom(l.TURNAddr, lab.TURNPort), User: turnUser, Pass: turnPass}
	if st.out, err = sess.Run(ctx, l.LAN[0], l.Second.LAN[0]); err != nil {
		return err
	}
	say(w, "%s: ICE session (pion/ice) %s -> %s: %s", st.name, l.LAN[0].Addr(), l.Second.LAN[0].Addr(), st.out)
	if err := printReport(ctx, w, agents[0]); err != nil {
		return err
	}
	for _, a := range agents {
		if err := a.Stop(); err != nil {
			return err
		}
	}
	return nil
}

// flush clears both routers' conntrack tables, so that the report shows
// the flows of the next session, not those the last one left behind.
func flush(ctx context.Context, w io.Writer, l *lab.Lab) error {
	say(w, "clearing both routers' conntrack tables (the flows the last session left)")
	for _, s := range l.Sites() {
		if _, err := s.Router.Run(ctx, "conntrack", "-F"); err != nil {
			return err
		}
	}
	return nil
}

func printReport(ctx context.Context, w io.Writer, a *icelab.Agent) error {
	if err := a.WaitProbes(ctx, 10*time.Second); err != nil {
		say(w, "%v", err)
	}
	say(w, "$ natp2p-agent report   (router A)")
	out, err := a.Run(ctx, "report")
	if len(out) == 0 {
		return err
	}
	fmt.Fprint(w, string(out))
	return nil
}

// summary prints what changed for the P2P application.
func summary(w io.Writer, stages []*stage) {
	say(w, "what the P2P application got:")
	for _, st := range stages {
		c := st.out.Controlling
		path := "direct: packets go host to host through both NATs"
		if st.out.Relayed() {
			path = "relayed: every packet goes through the TURN server"
		}
		fmt.Fprintf(w, "   %-6s enforce mode: %-15s connected in %5d ms, %s\n", st.name, st.out.Pair(), c.Connect, path)
	}
}

func say(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "== "+format+"\n", args...)
}
