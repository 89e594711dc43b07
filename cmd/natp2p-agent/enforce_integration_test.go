//go:build integration

package main

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/internal/labagent"
	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

// enforceLab is a fully-random masquerading router (the NAT that breaks
// endpoint-independent mapping) with echo servers on both WAN addresses,
// ports 4000 and 4001, and coturn's RFC 5780 server on 3478/3479.
type enforceLab struct {
	*lab.Lab
	fw       lab.Backend
	preserve bool   // run with --preserve-ports
	lans     string // --lan, if not the lab's br-lan
	before   string // the router's ruleset before the agent started
}

func newEnforceLab(t *testing.T, fw lab.Backend) *enforceLab {
	t.Helper()
	return newEnforceLabWith(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: fw})
}

// newEnforceLabWith is newEnforceLab for a router configured by cfg.
func newEnforceLabWith(t *testing.T, cfg lab.Config) *enforceLab {
	t.Helper()
	fw := cfg.Backend
	l := labtest.New(t, cfg)
	var addrs []netip.AddrPort
	for i := range l.ServerAddrs {
		addrs = append(addrs, server(l, i, 4000), server(l, i, 4001))
	}
	if err := l.WAN.UDPEcho(addrs...); err != nil {
		t.Fatal(err)
	}
	if err := l.WAN.TCPEcho(addrs...); err != nil {
		t.Fatal(err)
	}
	el := &enforceLab{Lab: l, fw: fw}
	el.before = el.ruleset(t)
	return el
}

var (
	ruleCounters = regexp.MustCompile(`\[\d+:\d+\]`)
	ruleComments = regexp.MustCompile(`(?m)^#.*\n`)
)

// ruleset is the router's firewall as its admin lists it (without
// iptables-save's counters and dated comments).
func (el *enforceLab) ruleset(t *testing.T) string {
	t.Helper()
	cmd := []string{"nft", "list", "ruleset"}
	if el.fw == lab.Iptables {
		cmd = []string{"iptables-save"}
	}
	out, err := el.Router.Run(context.Background(), cmd[0], cmd[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(ruleComments.ReplaceAllString(ruleCounters.ReplaceAllString(string(out), ""), ""))
}

func (el *enforceLab) sysctls(t *testing.T) string {
	t.Helper()
	out, err := el.Router.Run(context.Background(), "sysctl", "net.netfilter.nf_conntrack_udp_timeout",
		"net.netfilter.nf_conntrack_udp_timeout_stream", "net.netfilter.nf_conntrack_tcp_timeout_syn_sent")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// startEnforcing starts the daemon in enforce mode with the lab's backend.
func (el *enforceLab) startEnforcing(t *testing.T, a *labagent.Agent) {
	t.Helper()
	lans := el.LANIface
	if el.lans != "" {
		lans = el.lans
	}
	args := []string{"--mode", "enforce", "--backend", string(el.fw), "--lan", lans}
	if el.preserve {
		args = append(args, "--preserve-ports")
	}
	if err := a.Start(context.Background(), args...); err != nil {
		t.Fatal(err)
	}
}

// waitPins waits until the daemon holds at least n pins.
func waitPins(t *testing.T, a *labagent.Agent, n int) report.Report {
	t.Helper()
	var r report.Report
	waitFor(t, 5*time.Second, fmt.Sprintf("%d pins", n), func() (bool, string) {
		r, _ = getReport(t, a)
		if r.Enforcement == nil {
			return false, "no enforcement in the report"
		}
		return r.Enforcement.Pins >= n, fmt.Sprintf("%+v", *r.Enforcement)
	})
	return r
}

// kernelPublics returns the public endpoints conntrack shows for a private
// endpoint of protocol proto.
func kernelPublics(t *testing.T, l *lab.Lab, proto string, private netip.AddrPort) []netip.AddrPort {
	t.Helper()
	flows, err := l.Flows(context.Background(), "-p", proto)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	for _, f := range flows {
		if f.OrigSrc == private && !seen[f.ReplyDst] {
			seen[f.ReplyDst] = true
			out = append(out, f.ReplyDst)
		}
	}
	return out
}

// TestEnforce runs enforce mode through the binary on both backends: under
// fully-random masquerade a private endpoint keeps one public endpoint for
// every destination (UDP and TCP, as conntrack, coturn's RFC 5780 client
// and the probe see it), LAN hosts hairpin with public sources, inbound
// filtering stays closed, a kill -9 and restart keeps live flows on their
// ports without duplicating rules, a flushed ruleset comes back within a
// second, and cleanup restores the ruleset and sysctls exactly.
//
// The iptables backend runs twice on each iptables flavour: as it is, it
// pins from the event stream, too late for clients that send to a second
// server at once, and the report says so; with --preserve-ports the
// outside views hold too.
func TestEnforce(t *testing.T) {
	t.Run(string(lab.Nftables), func(t *testing.T) { testEnforce(t, lab.Nftables, false) })
	labtest.EachFlavour(t, func(t *testing.T, _ lab.Flavour) {
		for _, preserve := range []bool{false, true} {
			name := "default"
			if preserve {
				name = "preserve-ports"
			}
			t.Run(name, func(t *testing.T) { testEnforce(t, lab.Iptables, preserve) })
		}
	})
}

func testEnforce(t *testing.T, fw lab.Backend, preserve bool) {
	el := newEnforceLab(t, fw)
	el.preserve = preserve
	// Only the iptables backend without port preservation pins too late
	// for a second destination sent at once.
	late := fw == lab.Iptables && !preserve
	sysBefore := el.sysctls(t)
	a := newAgent(t, el.Lab)
	el.startEnforcing(t, a)
	if got := el.sysctls(t); !strings.Contains(got, "nf_conntrack_udp_timeout = 300") ||
		!strings.Contains(got, "nf_conntrack_udp_timeout_stream = 300") {
		t.Errorf("enforce mode did not raise the UDP timeouts:\n%s", got)
	}
	ctx := context.Background()

	// UDP: the first flow pins; later destinations get the same port.
	privA := netip.AddrPortFrom(el.LAN[0].Addr(), 5000)
	sA := udp(t, el.LAN[0], privA, server(el.Lab, 0, 4000))
	waitPins(t, a, 1)
	if got, err := sA.Send(ctx, server(el.Lab, 1, 4001), server(el.Lab, 0, 4001)); err != nil || len(got) != 2 {
		t.Fatalf("A to two more servers: %v, %v", got, err)
	}
	if pubs := kernelPublics(t, el.Lab, "udp", privA); len(pubs) != 1 {
		t.Errorf("udp %s has public endpoints %v in conntrack, want one", privA, pubs)
	}

	// TCP: two connections from one private port share one public port.
	privT := netip.AddrPortFrom(el.LAN[0].Addr(), 5100)
	c1, err := el.LAN[0].DialTCP(ctx, privT, server(el.Lab, 0, 4000))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	waitPins(t, a, 2)
	c2, err := el.LAN[0].DialTCP(ctx, privT, server(el.Lab, 1, 4001))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if pubs := kernelPublics(t, el.Lab, "tcp", privT); len(pubs) != 1 {
		t.Errorf("tcp %s has public endpoints %v in conntrack, want one", privT, pubs)
	}

	// Hairpinning: B pins a mapping, then A and B send to each other's
	// public endpoints; each must hear the other from its public endpoint.
	privB := netip.AddrPortFrom(el.LAN[1].Addr(), 6000)
	sB := udp(t, el.LAN[1], privB, server(el.Lab, 0, 4000))
	r := waitPins(t, a, 3)
	pubA, pubB := kernelPublics(t, el.Lab, "udp", privA)[0], kernelPublics(t, el.Lab, "udp", privB)[0]
	sA.Send(ctx, pubB) // no echo on B: the reply wait simply runs out
	if heard := sB.Heard(ctx, pubA); len(heard) != 1 {
		t.Errorf("hairpin: B did not hear A from A's public endpoint %v", pubA)
	}
	sB.Send(ctx, pubA)
	if heard := sA.Heard(ctx, pubB); len(heard) != 1 {
		t.Errorf("hairpin: A did not hear B from B's public endpoint %v", pubB)
	}

	// Filtering stays closed: a host B never contacted cannot reach it.
	stranger, err := el.WAN.OpenUDP(server(el.Lab, 1, 7777))
	if err != nil {
		t.Fatal(err)
	}
	stranger.Send(ctx, pubB)
	if heard := sB.Heard(ctx, server(el.Lab, 1, 7777)); len(heard) != 0 {
		t.Errorf("unsolicited inbound from %v reached B through its pin %v", server(el.Lab, 1, 7777), pubB)
	}

	r, _ = getReport(t, a)
	mapping := report.Pass
	if late {
		mapping = report.Warn // the router's NAT is fully random: set preserve_ports
	}
	for id, want := range map[string]report.Verdict{report.IDMappingUDP: mapping, report.IDMappingTCP: mapping,
		report.IDHairpin: report.Pass, report.IDTimeoutUDP: report.Pass, report.IDMappingStable: report.Pass,
		report.IDPortOverloading: report.Pass} {
		if c := r.Check(id); c.Verdict != want {
			t.Errorf("%s = %s (%s %q), want %s", id, c.Verdict, c.Summary, c.Evidence, want)
		}
	}
	if c := r.Check(report.IDMappingUDP); late && !strings.Contains(c.Summary, "preserve_ports") {
		t.Errorf("%s summary %q does not name preserve_ports", report.IDMappingUDP, c.Summary)
	}
	if e := r.Enforcement; e == nil || e.Backend != string(fw) || !e.Installed || e.PreservePorts != preserve || e.RandomNAT != late {
		t.Errorf("report enforcement = %+v, want backend %s installed, preserve_ports %v, random_nat %v", e, fw, preserve, late)
	}

	// Outside views: coturn's RFC 5780 client and our probe, from LAN[1].
	// They send to a second server within a millisecond of the first
	// answer, from a fresh socket. The nftables backend pins in the kernel
	// from the first packet; with --preserve-ports the iptables backend's
	// own masquerade keeps the port before any pin. Without it, the
	// iptables backend pins from the event stream (BENCHMARKS.md measures
	// its window), so such clients see the router's fully-random mapping.
	if late {
		t.Log("iptables backend without --preserve-ports: RFC 5780 clients race the pin window; outside views not asserted")
	} else {
		outsideViews(t, el)
	}

	// kill -9, restart: the live flows keep their public endpoints, and the
	// rules are adopted, not duplicated.
	restartAndFlush(t, el, a, sA, privA, pubA, sysBefore)
}

// outsideViews checks that coturn's RFC 5780 client and natp2p-agent probe
// see endpoint-independent mapping and hairpinning.
func outsideViews(t *testing.T, el *enforceLab) {
	t.Helper()
	coturn(t, el.Lab)
	if got := natdiscoveryMapping(t, el.Lab); got != "NAT with Endpoint Independent Mapping!" {
		t.Errorf("turnutils_natdiscovery -m: %q, want endpoint-independent", got)
	}
	pr := runProbe(t, el.Lab, el.LAN[1])
	if pr.Mapping != probe.EndpointIndependent || pr.TCPMapping != probe.EndpointIndependent {
		t.Errorf("probe: mapping %s, tcp mapping %s; want endpoint-independent for both", pr.Mapping, pr.TCPMapping)
	}
	if pr.Hairpin == nil || !*pr.Hairpin {
		t.Errorf("probe: hairpin %v, want true; tests %+v", pr.Hairpin, pr.Tests)
	}
}

// restartAndFlush: kill -9 and restart keep live flows on their public
// endpoints without duplicating rules; a flush is repaired within a
// second; cleanup restores the ruleset and the sysctls exactly.
func restartAndFlush(t *testing.T, el *enforceLab, a *labagent.Agent, sA *lab.UDPSession, privA, pubA netip.AddrPort, sysBefore string) {
	t.Helper()
	ctx := context.Background()
	fw := el.fw
	rulesBefore := el.ruleset(t)
	if err := a.Daemon.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	el.Router.Wait(a.Daemon)
	el.startEnforcing(t, a)
	if after := el.ruleset(t); after != rulesBefore {
		t.Errorf("restart changed the rules:\nbefore:\n%s\nafter:\n%s", rulesBefore, after)
	}
	if got, err := sA.Send(ctx, server(el.Lab, 1, 4000)); err != nil || len(got) != 1 {
		t.Fatalf("A after the restart: %v, %v", got, err)
	}
	if pubs := kernelPublics(t, el.Lab, "udp", privA); len(pubs) != 1 || pubs[0] != pubA {
		t.Errorf("after kill -9 and restart, %s has public endpoints %v, want only %v", privA, pubs, pubA)
	}

	// A flushed firewall comes back within a second.
	flush := []string{"nft", "flush", "ruleset"}
	if fw == lab.Iptables {
		flush = []string{"sh", "-c", "iptables -t nat -D POSTROUTING -j NATP2P_POST; iptables -t nat -D PREROUTING -j NATP2P_PRE"}
		if el.preserve {
			flush[2] += "; iptables -t nat -D POSTROUTING -j NATP2P_MASQ"
		}
	}
	if _, err := el.Router.Run(ctx, flush[0], flush[1:]...); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	waitFor(t, 3*time.Second, "the rules back", func() (bool, string) {
		r, _ := getReport(t, a)
		return r.Enforcement != nil && r.Enforcement.Reinstalls > 0 && r.Enforcement.Installed, fmt.Sprintf("%+v", r.Enforcement)
	})
	if took := time.Since(flushed); took > time.Second {
		t.Errorf("the rules took %v to come back, want under 1 s", took)
	}

	// Stop, clean up: the ruleset and the sysctls are as before.
	if err := a.Daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	el.Router.Wait(a.Daemon)
	if fw == lab.Nftables {
		// The flush above took the lab's own NAT table too: put it back as
		// it was, so that "before" can be compared.
		restoreLabNAT(t, el)
	}
	out, stderr, code, err := a.Run(ctx, "cleanup", "--socket", a.Socket)
	if err != nil || code != 0 {
		t.Fatalf("cleanup: exit %d, %v: %s %s", code, err, out, stderr)
	}
	if after := el.ruleset(t); after != el.before {
		t.Errorf("after cleanup the ruleset differs from before the agent:\nbefore:\n%s\nafter:\n%s", el.before, after)
	}
	if got := el.sysctls(t); got != sysBefore {
		t.Errorf("after cleanup the sysctls are\n%s\nwant\n%s", got, sysBefore)
	}
}

// restoreLabNAT reinstalls the lab's fully-random masquerade after an
// `nft flush ruleset`.
func restoreLabNAT(t *testing.T, el *enforceLab) {
	t.Helper()
	script := "table ip " + lab.NFTTable + " {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n" +
		"\t\toifname \"" + el.WANIface + "\" masquerade fully-random\n\t}\n}\n"
	cmd := el.Router.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restoring the lab's NAT: %v\n%s", err, out)
	}
}

// natdiscoveryMapping runs coturn's RFC 5780 client (mapping test only)
// from the second LAN host against coturn and returns its mapping verdict.
func natdiscoveryMapping(t *testing.T, l *lab.Lab) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := l.LAN[1].Run(ctx, "turnutils_natdiscovery", "-m", "-p", "3478", l.ServerAddrs[0].String())
	if err != nil {
		t.Fatalf("turnutils_natdiscovery: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^NAT with .* Mapping!$`).FindString(string(out))
	if m == "" {
		t.Logf("turnutils_natdiscovery output:\n%s", out)
	}
	return m
}

// TestEnforceWANChangeDropsPins: when the WAN address changes (a PPP
// reconnect, a DHCP renewal), the pins of the old address go, at once:
// the agent hears of the change through rtnetlink, not its 5 s poll.
func TestEnforceWANChangeDropsPins(t *testing.T) {
	el := newEnforceLab(t, lab.Nftables)
	a := newAgent(t, el.Lab)
	el.startEnforcing(t, a)
	udp(t, el.LAN[0], netip.AddrPortFrom(el.LAN[0].Addr(), 5000), server(el.Lab, 0, 4000))
	waitPins(t, a, 1)
	ctx := context.Background()
	for _, args := range [][]string{{"addr", "add", "203.0.113.2/24", "dev", el.WANIface}, {"addr", "del", el.RouterWAN.String() + "/24", "dev", el.WANIface}} {
		if _, err := el.Router.Run(ctx, "ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	changed := time.Now()
	waitFor(t, 10*time.Second, "the old address's pins gone", func() (bool, string) {
		r, _ := getReport(t, a)
		return r.Enforcement != nil && r.Enforcement.Pins == 0, fmt.Sprintf("%+v", r.Enforcement)
	})
	if took := time.Since(changed); took > 2*time.Second {
		t.Errorf("pins went %v after the address change; rtnetlink should make it well under the 5 s poll", took)
	}
	out, err := el.Router.Run(ctx, "nft", "list", "map", "ip", "natp2p", "pins")
	if err != nil || strings.Contains(string(out), el.RouterWAN.String()) {
		t.Errorf("the kernel still holds pins of %s: %v\n%s", el.RouterWAN, err, out)
	}
}

// TestObserveRemovesEnforceLeftovers: a config change from enforce to
// observe restarts the daemon without a cleanup (procd); the observing
// agent must not leave enforce mode's rules and timeouts in force.
func TestObserveRemovesEnforceLeftovers(t *testing.T) {
	el := newEnforceLab(t, lab.Nftables)
	sysBefore := el.sysctls(t)
	a := newAgent(t, el.Lab)
	el.startEnforcing(t, a)
	udp(t, el.LAN[0], netip.AddrPortFrom(el.LAN[0].Addr(), 5000), server(el.Lab, 0, 4000))
	waitPins(t, a, 1)
	if err := a.Daemon.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	el.Router.Wait(a.Daemon)
	if err := a.Start(context.Background(), "--mode", "observe"); err != nil {
		t.Fatal(err)
	}
	if after := el.ruleset(t); after != el.before {
		t.Errorf("observe mode left enforce mode's rules:\n%s", after)
	}
	if got := el.sysctls(t); got != sysBefore {
		t.Errorf("observe mode left the raised timeouts:\n%s\nwant\n%s", got, sysBefore)
	}
	if r, _ := getReport(t, a); r.Enforcement != nil {
		t.Errorf("observe mode reports enforcement %+v", r.Enforcement)
	}
}

// TestEnforceAutoOnIptablesNAT: on a router whose NAT is iptables
// (iptables-nft here) and whose kernel has nf_tables, --backend auto picks
// nftables, whose chains run before iptables' NAT and pin from the first
// packet: RFC 5780 clients then see endpoint-independent mapping too.
func TestEnforceAutoOnIptablesNAT(t *testing.T) {
	el := newEnforceLab(t, lab.Iptables)
	ctx := context.Background()
	nftBefore, err := el.Router.Run(ctx, "nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, el.Lab)
	if err := a.Start(ctx, "--mode", "enforce", "--lan", el.LANIface); err != nil {
		t.Fatal(err)
	}
	if r, _ := getReport(t, a); r.Enforcement == nil || r.Enforcement.Backend != "nftables" {
		t.Fatalf("--backend auto under an iptables-nft NAT: enforcement %+v, want nftables", r.Enforcement)
	}
	outsideViews(t, el)
	if err := a.Daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	el.Router.Wait(a.Daemon)
	if _, stderr, code, err := a.Run(ctx, "cleanup", "--socket", a.Socket); err != nil || code != 0 {
		t.Fatalf("cleanup: exit %d, %v: %s", code, err, stderr)
	}
	if after := el.ruleset(t); after != el.before {
		t.Errorf("after cleanup iptables-save differs:\n%s\nwant\n%s", after, el.before)
	}
	nftCounters := regexp.MustCompile(`packets \d+ bytes \d+`)
	after, _ := el.Router.Run(ctx, "nft", "list", "ruleset")
	if a, b := nftCounters.ReplaceAll(after, nil), nftCounters.ReplaceAll(nftBefore, nil); string(a) != string(b) {
		t.Errorf("after cleanup nft list ruleset differs:\n%s\nwant\n%s", a, b)
	}
}
