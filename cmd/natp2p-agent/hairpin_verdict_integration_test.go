//go:build integration

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/labagent"
	"github.com/natp2p/natp2p/report"
)

// hairpinExchange pins a UDP endpoint of each LAN host (A on LAN[0], B on
// LAN[1]), has A send to B's public endpoint and B to A's, and returns the
// endpoints and the sources each host heard the other from.
type hairpinExchange struct {
	privA, privB, pubA, pubB netip.AddrPort
	heardByB, heardByA       []netip.AddrPort
}

func exchange(t *testing.T, el *enforceLab, a *labagent.Agent) hairpinExchange {
	t.Helper()
	ctx := context.Background()
	x := hairpinExchange{privA: netip.AddrPortFrom(el.LAN[0].Addr(), 5000), privB: netip.AddrPortFrom(el.LAN[1].Addr(), 6000)}
	sA := udp(t, el.LAN[0], x.privA, server(el.Lab, 0, 4000))
	sB := udp(t, el.LAN[1], x.privB, server(el.Lab, 0, 4000))
	waitPins(t, a, 2)
	x.pubA, x.pubB = kernelPublics(t, el.Lab, "udp", x.privA)[0], kernelPublics(t, el.Lab, "udp", x.privB)[0]
	sA.Send(ctx, x.pubB) // no echo on B: the reply wait simply runs out
	x.heardByB = sB.Heard(ctx, x.pubA, x.privA)
	sB.Send(ctx, x.pubA)
	x.heardByA = sA.Heard(ctx, x.pubB, x.privB)
	t.Logf("B heard A from %v, A heard B from %v (public %v and %v)", x.heardByB, x.heardByA, x.pubA, x.pubB)
	return x
}

// hairpinVerdict waits until the report's hairpin verdict is not UNKNOWN
// (the daemon has the hairpinned flows), or the wait runs out, and
// returns the check.
func hairpinVerdict(t *testing.T, a *labagent.Agent, wait time.Duration) *report.Check {
	t.Helper()
	var c *report.Check
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		r, _ := getReport(t, a)
		c = r.Check(report.IDHairpin)
		if c.Verdict != report.Unknown || time.Now().After(deadline) {
			return c
		}
	}
}

// TestEnforceHairpinVerdictBridgeNetfilter: with bridge netfilter off
// (OpenWrt) and on in the router (net.bridge.bridge-nf-call-iptables=1),
// enforce mode's hairpin verdict agrees with what the LAN hosts received:
// PASS only when each heard the other from its public endpoint; FAIL
// naming the flows and bridge netfilter when one heard the other's
// private address.
func TestEnforceHairpinVerdictBridgeNetfilter(t *testing.T) {
	for _, c := range backendsAndBridgeNF {
		t.Run(c.name(), func(t *testing.T) {
			el := newEnforceLabWith(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: c.fw, BridgeNetfilter: c.brnf})
			a := newAgent(t, el.Lab)
			el.startEnforcing(t, a)
			x := exchange(t, el, a)
			c := hairpinVerdict(t, a, 5*time.Second)
			all := c.Summary + " | " + strings.Join(c.Evidence, " | ")
			t.Logf("hairpin = %s %s", c.Verdict, all)
			switch {
			case slices.Equal(x.heardByB, []netip.AddrPort{x.pubA}) && slices.Equal(x.heardByA, []netip.AddrPort{x.pubB}):
				if c.Verdict != report.Pass {
					t.Errorf("both hosts heard the other's public endpoint, but hairpin = %s %q", c.Verdict, all)
				}
			case slices.Contains(x.heardByB, x.privA) || slices.Contains(x.heardByA, x.privB):
				if c.Verdict != report.Fail || !strings.Contains(all, "bridge-nf-call-iptables = 1") ||
					!(strings.Contains(all, x.privA.String()+" -> "+x.pubB.String()) || strings.Contains(all, x.privB.String()+" -> "+x.pubA.String())) {
					t.Errorf("a host heard a private source, but hairpin = %s %q; want FAIL naming the flow and bridge netfilter", c.Verdict, all)
				}
			default:
				if c.Verdict == report.Pass {
					t.Errorf("the hosts did not hear each other from public endpoints, but hairpin = PASS %q", all)
				}
			}
		})
	}
}

// TestEnforceHairpinForwardDrop: on a router whose forward chain drops
// LAN-to-LAN traffic, natp2p's hairpin rules are in place but nothing
// arrives. Without an introducer the verdict is UNKNOWN (nothing showed
// the rules working), never PASS; with one, the LAN-side probe's packet is
// lost, conntrack has no entry for it, and the verdict fails naming the
// probe's flow and the forward chain. Both backends, bridge netfilter off
// and on.
func TestEnforceHairpinForwardDrop(t *testing.T) {
	for _, c := range backendsAndBridgeNF {
		t.Run(c.name(), func(t *testing.T) { testForwardDrop(t, c.fw, c.brnf) })
	}
}

// backendsAndBridgeNF are the routers a hairpin test runs on: both
// firewalls, each with bridge netfilter off (OpenWrt) and on (Debian-based
// routers, docker hosts).
var backendsAndBridgeNF = []routerKind{{lab.Nftables, false}, {lab.Nftables, true}, {lab.Iptables, false}, {lab.Iptables, true}}

// routerKind is a lab router's firewall and bridge netfilter setting.
type routerKind struct {
	fw   lab.Backend
	brnf bool
}

func (r routerKind) name() string { return fmt.Sprintf("%s/bridge-nf=%t", r.fw, r.brnf) }

func testForwardDrop(t *testing.T, fw lab.Backend, brnf bool) {
	el := newEnforceLabWith(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: fw, BridgeNetfilter: brnf, ForwardDropLAN: true})
	a := newAgent(t, el.Lab)
	el.startEnforcing(t, a)
	x := exchange(t, el, a)
	if len(x.heardByA)+len(x.heardByB) != 0 {
		t.Fatalf("the forward chain should drop hairpinned packets, but the hosts heard %v and %v", x.heardByB, x.heardByA)
	}
	if c := hairpinVerdict(t, a, time.Second); c.Verdict != report.Unknown || !strings.Contains(c.Summary, "not yet seen working") {
		t.Errorf("nothing arrived and no introducer: hairpin = %s (%s %q), want UNKNOWN, not yet seen working", c.Verdict, c.Summary, c.Evidence)
	}

	if err := a.Daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	el.Router.Wait(a.Daemon)
	coturn(t, el.Lab)
	err := a.Start(context.Background(), "--mode", "enforce", "--backend", string(el.fw), "--lan", el.LANIface,
		"--introducer", net.JoinHostPort(el.ServerAddrs[0].String(), "3478"))
	if err != nil {
		t.Fatal(err)
	}
	lan := waitLANProbe(t, a)
	if !lan.Netns || lan.Report == nil || lan.Report.Hairpin == nil || *lan.Report.Hairpin {
		t.Fatalf("the LAN-side probe %+v should have run from its namespace and seen no hairpin", lan)
	}
	r, _ := getReport(t, a)
	c := r.Check(report.IDHairpin)
	all := c.Summary + " | " + strings.Join(c.Evidence, " | ")
	for _, want := range []string{"nothing came back through " + lan.Report.Public.String(),
		fmt.Sprintf("no hairpinned flow from %s to %s", lan.From, lan.Report.Public), "drops LAN-to-LAN"} {
		if c.Verdict != report.Fail || !strings.Contains(all, want) {
			t.Errorf("hairpin = %s %q; want FAIL with %q", c.Verdict, all, want)
		}
	}
}
