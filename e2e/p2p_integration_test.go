//go:build integration && linux

// Package e2e runs real peer-to-peer software through natp2p's two-router
// lab: see package icelab and docs/p2p.md.
package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/natp2p/natp2p/e2e/icelab"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// bins are natp2p-agent, natp2p-introducer and icepeer, built once by
// TestMain.
var bins icelab.Binaries

// TestMain builds the binaries, unless the lab cannot run here and no
// one requires it (then every test skips, see labtest.New).
func TestMain(m *testing.M) {
	if lab.Requirements(lab.Nftables) != nil && os.Getenv(labtest.RequireEnv) != "1" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "natp2p-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bins, err = icelab.Build(ctx, "..", dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// session is one ICE session of a case: from LAN host a of the first
// router to host b of the router named by other (false: the first).
type session struct {
	name    string
	a, b    int
	other   bool
	relayed bool
}

var acrossRouters = []session{{name: "across the routers", other: true}}

// TestICE connects pion/ice agents in LAN hosts of two routers on one
// WAN, with natp2p-introducer as STUN server and coturn as TURN relay, and
// asserts the pair ICE selects: direct through two plain masquerades;
// relayed through two fully-random NATs; direct again with natp2p's
// enforce mode on both routers (each backend: nftables; iptables with
// --preserve-ports); and direct, host to host, between two hosts behind
// one router. Every case runs on routers whose NAT is nftables or
// iptables rules, with bridge netfilter off (OpenWrt) and on (Debian-based
// routers, docker hosts).
// natp2p-agent runs in both routers (observe mode where it does not
// enforce) and its report's mapping.udp and, where the agent has it,
// p2p.udp must agree with what ICE achieved between the routers.
func TestICE(t *testing.T) {
	observe := []string{"--mode", "observe"}
	behindOne := session{name: "behind one router", a: 0, b: 1}
	fullyRandom := []session{{name: "across the routers", other: true, relayed: true}, behindOne}
	enforce := map[lab.Backend][]string{lab.Nftables: {"--mode", "enforce", "--backend", "nftables"},
		lab.Iptables: {"--mode", "enforce", "--backend", "iptables", "--preserve-ports"}}
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		for _, brnf := range []bool{false, true} {
			for _, tc := range []struct {
				name     string
				nat      lab.NAT
				agent    []string // natp2p-agent run flags
				sessions []session
			}{
				{"masquerade", lab.Masquerade, observe, acrossRouters},
				{"fully-random", lab.MasqueradeFullyRandom, observe, fullyRandom},
				{"fully-random-enforce", lab.MasqueradeFullyRandom, enforce[fw], append([]session{behindOne}, acrossRouters...)},
			} {
				t.Run(fmt.Sprintf("%s/bridge-nf=%t/%s", fw, brnf, tc.name), func(t *testing.T) {
					t.Parallel()
					l := newP2PLab(t, lab.Config{NAT: tc.nat, Backend: fw, BridgeNetfilter: brnf})
					agents := startAgents(t, l, tc.agent)
					for _, s := range tc.sessions {
						t.Run(s.name, func(t *testing.T) { runSession(t, l, s) })
					}
					checkReports(t, agents, !slices.ContainsFunc(tc.sessions, func(s session) bool { return s.other && s.relayed }))
				})
			}
		}
	}
}

// startAgents starts natp2p-agent with args on both routers, probing the
// introducer.
func startAgents(t *testing.T, l *lab.Lab, args []string) []*icelab.Agent {
	t.Helper()
	args = append(args, "--introducer", netip.AddrPortFrom(l.ServerAddrs[0], lab.STUNPort).String())
	var agents []*icelab.Agent
	for _, s := range l.Sites() {
		a, err := icelab.StartAgent(testCtx(t), s, bins.Agent, t.TempDir(), args...)
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, a)
	}
	return agents
}

// checkReports asserts each router's report agrees with ICE: mapping.udp
// passes when ICE went direct between the routers and fails when it was
// relayed, and so does p2p.udp when the agent has that check and a
// verdict for it.
func checkReports(t *testing.T, agents []*icelab.Agent, direct bool) {
	t.Helper()
	ctx := testCtx(t)
	want := map[bool]string{true: "PASS", false: "FAIL"}[direct]
	for _, a := range agents {
		if err := a.WaitProbes(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"mapping.udp", "p2p.udp"} {
			verdict, summary, err := a.Check(ctx, id)
			switch {
			case err != nil:
				t.Fatal(err)
			case verdict == "" || (id == "p2p.udp" && verdict != "PASS" && verdict != "FAIL"):
				t.Logf("%s: no verdict for %s in this agent's report (%q)", a.Site.Router.Name, id, summary)
			case verdict != want:
				t.Errorf("%s: %s %s (%s), but ICE went direct: %v", a.Site.Router.Name, id, verdict, summary, direct)
			}
		}
	}
}

// newP2PLab builds a two-router lab (two LAN hosts behind the first
// router, one behind the second), both routers as cfg says, and starts
// natp2p-introducer and coturn on its WAN.
func newP2PLab(t *testing.T, cfg lab.Config) *lab.Lab {
	t.Helper()
	cfg.Second = &lab.SiteConfig{NAT: cfg.NAT, Backend: cfg.Backend}
	l := labtest.New(t, cfg)
	ctx := testCtx(t)
	if err := l.StartIntroducer(ctx, bins.Introducer, "--log-level", "warn"); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("turnserver"); err != nil {
		labtest.Missing(t, "coturn (turnserver)")
	}
	if err := l.StartTURN(ctx, turnUser, turnPass); err != nil {
		t.Fatal(err)
	}
	return l
}

const turnUser, turnPass = "natp2p", "lab-only"

func runSession(t *testing.T, l *lab.Lab, s session) {
	t.Helper()
	b := l.LAN[s.b]
	if s.other {
		b = l.Second.LAN[s.b]
	}
	sess := icelab.Session{Peer: bins.Peer, STUN: netip.AddrPortFrom(l.ServerAddrs[0], lab.STUNPort),
		TURN: netip.AddrPortFrom(l.TURNAddr, lab.TURNPort), User: turnUser, Pass: turnPass, Logf: t.Logf}
	out, err := sess.Run(testCtx(t), l.LAN[s.a], b)
	t.Logf("%s -> %s: %s; gathered %v in %d ms; controlled end: %s <-> %s",
		l.LAN[s.a].Addr(), b.Addr(), out, out.Controlling.Gathered, out.Controlling.GatherMS,
		out.Controlled.Local.Type, out.Controlled.Remote.Type)
	if err != nil {
		t.Fatal(err)
	}
	relayed := out.Relayed() || out.Controlled.Local.Type == "relay" || out.Controlled.Remote.Type == "relay"
	if relayed != s.relayed {
		t.Errorf("selected pair %s: relayed %v, want %v", out.Pair(), relayed, s.relayed)
	}
	if !s.other && out.Pair() != "host <-> host" {
		t.Errorf("hosts behind one router selected %s, want host <-> host", out.Pair())
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
