//go:build integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/internal/labagent"
	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

// stunServer starts an RFC 5780 server in the lab's WAN host on both
// server addresses, ports 3478 and 3479, and waits until it answers.
type stunServer func(t *testing.T, l *lab.Lab)

// coturn runs coturn's turnserver as a STUN-only RFC 5780 server.
func coturn(t *testing.T, l *lab.Lab) {
	t.Helper()
	started(t, l.StartCoturn(context.Background()))
}

// ourIntroducer runs natp2p-introducer.
func ourIntroducer(t *testing.T, l *lab.Lab) {
	t.Helper()
	started(t, l.StartIntroducer(context.Background(), introducerBin))
}

// stund runs the classic RFC 3489 server.
func stund(t *testing.T, l *lab.Lab) {
	t.Helper()
	started(t, l.StartStund(context.Background()))
}

// started fails t when a server did not start, or skips it (see
// labtest.Missing) when the server is not installed.
func started(t *testing.T, err error) {
	t.Helper()
	switch {
	case errors.Is(err, lab.ErrMissingTool):
		labtest.Missing(t, err.Error())
	case err != nil:
		t.Fatal(err)
	}
}

// runProbe runs natp2p-agent probe in a namespace and returns its report.
func runProbe(t *testing.T, l *lab.Lab, ns *lab.NS, args ...string) probe.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append([]string{"probe", "--json", "--introducer", net.JoinHostPort(l.ServerAddrs[0].String(), "3478")}, args...)
	out, err := ns.Command(ctx, agentBin, args...).Output()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	var r probe.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	return r
}

// TestProbeMatrix runs the probe against coturn and against
// natp2p-introducer, from a LAN host, from the router's LAN address (the
// daemon's fallback vantage point) and through the daemon from its LAN-side
// namespace, for every NAT the lab builds, and checks every run against the
// lab's known truth; the namespace's hairpin verdict must equal the LAN
// host's.
func TestProbeMatrix(t *testing.T) {
	for name, server := range map[string]stunServer{"coturn": coturn, "natp2p-introducer": ourIntroducer} {
		t.Run(name, func(t *testing.T) { probeMatrix(t, server) })
	}
}

func probeMatrix(t *testing.T, server stunServer) {
	eim, apdm, eif, apdf := probe.EndpointIndependent, probe.AddressAndPortDependent, probe.EndpointIndependent, probe.AddressAndPortDependent
	for _, tt := range []struct {
		nat                lab.NAT
		mapping, filtering probe.Behaviour
		natted, preserved  bool
		// routerFiltering is what the router's own vantage sees, when it
		// differs: a DMZ forwards unsolicited packets to the DMZ host only.
		routerFiltering probe.Behaviour
	}{
		{nat: lab.Masquerade, mapping: eim, filtering: apdf, natted: true, preserved: true},
		{nat: lab.MasqueradeFullyRandom, mapping: apdm, filtering: apdf, natted: true},
		{nat: lab.DMZ, mapping: eim, filtering: eif, natted: true, preserved: true, routerFiltering: apdf},
		{nat: lab.DoubleNAT, mapping: apdm, filtering: apdf, natted: true}, // the CGN allocates at random
		{nat: lab.NoNAT, mapping: eim, filtering: eif},                     // a plain router, no rules
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			server(t, l)
			host := runProbe(t, l, l.LAN[0])
			checkTruth(t, "LAN host", host, tt.mapping, tt.filtering, tt.natted, tt.preserved)
			if !tt.natted {
				// No NAT: the public address is the host's own, and a
				// packet to it comes straight back, from the namespace too.
				lan, _ := daemonLANProbe(t, l)
				checkTruth(t, "daemon's LAN-side namespace", *lan.Report, tt.mapping, tt.filtering, tt.natted, tt.preserved)
				sameHairpin(t, host, *lan.Report)
				return
			}
			if host.Hairpin == nil || *host.Hairpin {
				t.Errorf("LAN host: hairpin %v, want false (stock Linux NAT drops it)", host.Hairpin)
			}
			routerFiltering := tt.filtering
			if tt.routerFiltering != "" {
				routerFiltering = tt.routerFiltering
			}
			router := runProbe(t, l, l.Router, "--local", l.RouterLAN.String())
			checkTruth(t, "router LAN address", router, tt.mapping, routerFiltering, tt.natted, tt.preserved)
			lan, _ := daemonLANProbe(t, l)
			checkTruth(t, "daemon's LAN-side namespace", *lan.Report, tt.mapping, routerFiltering, tt.natted, tt.preserved)
			sameHairpin(t, host, *lan.Report)
		})
	}
}

// daemonLANProbe starts the daemon with an introducer in l and returns its
// first LAN-side probe, which must have run from the LAN-side namespace,
// and the report that holds it.
func daemonLANProbe(t *testing.T, l *lab.Lab, args ...string) (*report.ProbeResult, *labagent.Agent) {
	t.Helper()
	a := startDaemon(t, l, append([]string{"--introducer", net.JoinHostPort(l.ServerAddrs[0].String(), "3478")}, args...)...)
	lan := waitLANProbe(t, a)
	if !lan.Netns || lan.From != vantageAddr || lan.Report == nil {
		t.Fatalf("daemon's LAN probe %+v: want one from the namespace at %s", lan, vantageAddr)
	}
	return lan, a
}

// vantageAddr is where the LAN-side namespace lands in the lab: the top
// of 198.51.100.0/24.
var vantageAddr = netip.MustParseAddr("198.51.100.254")

// waitLANProbe waits until the daemon's report holds a LAN-side probe.
func waitLANProbe(t *testing.T, a *labagent.Agent) *report.ProbeResult {
	t.Helper()
	var r report.Report
	waitFor(t, 20*time.Second, "the LAN probe in the report", func() (bool, string) {
		r, _ = getReport(t, a)
		return r.Probe != nil && r.Probe.LAN != nil, fmt.Sprintf("%+v", r.Probe)
	})
	return r.Probe.LAN
}

// sameHairpin: the namespace measures hairpinning as a LAN host does.
func sameHairpin(t *testing.T, host, ns probe.Report) {
	t.Helper()
	if host.Hairpin == nil || ns.Hairpin == nil || *host.Hairpin != *ns.Hairpin {
		t.Errorf("hairpin: LAN host %v, daemon's namespace %v; want the same, measured\n%+v", fmtBool(host.Hairpin), fmtBool(ns.Hairpin), ns.Tests)
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "not checked"
	}
	return fmt.Sprint(*b)
}

func checkTruth(t *testing.T, vantage string, r probe.Report, mapping, filtering probe.Behaviour, natted, preserved bool) {
	t.Helper()
	if r.Mapping != mapping || r.TCPMapping != mapping || r.Filtering != filtering {
		t.Errorf("%s: mapping %s, tcp mapping %s, filtering %s; want %s, %s, %s\n%+v",
			vantage, r.Mapping, r.TCPMapping, r.Filtering, mapping, mapping, filtering, r.Tests)
	}
	if r.NAT == nil || *r.NAT != natted {
		t.Errorf("%s: NAT %v, want %v", vantage, r.NAT, natted)
	}
	if natted && (r.PortPreservation == nil || *r.PortPreservation != preserved) {
		t.Errorf("%s: port preservation %v, want %v", vantage, r.PortPreservation, preserved)
	}
	if r.ALG != nil && *r.ALG {
		t.Errorf("%s: ALG rewriting reported, but the lab runs no NAT helper", vantage)
	}
}

// TestProbeAgainstStund classifies against a classic RFC 3489 server,
// which names its other address in CHANGED-ADDRESS and serves no TCP.
func TestProbeAgainstStund(t *testing.T) {
	for _, tt := range []struct {
		nat     lab.NAT
		mapping probe.Behaviour
	}{
		{lab.Masquerade, probe.EndpointIndependent},
		{lab.MasqueradeFullyRandom, probe.AddressAndPortDependent},
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			stund(t, l)
			r := runProbe(t, l, l.LAN[0], "--no-tcp")
			if r.Mapping != tt.mapping || r.Filtering != probe.AddressAndPortDependent {
				t.Errorf("mapping %s, filtering %s; want %s, %s\n%+v", r.Mapping, r.Filtering, tt.mapping,
					probe.AddressAndPortDependent, r.Tests)
			}
			if r.ALG != nil && *r.ALG {
				t.Error("ALG rewriting reported, but the lab router runs no NAT helper")
			}
		})
	}
}

// TestDaemonProbes runs the daemon with an introducer: it probes from the
// LAN-side namespace (through its own NAT, as a LAN host) and from the WAN
// address (upstream only), and the report's checks take the probes'
// verdicts. The namespace sees what a LAN host sees, hairpinning included
// (stock Linux NAT drops it: FAIL; behind a carrier NAT the mapping is
// the carrier's: WARN), and leaves no link behind.
func TestDaemonProbes(t *testing.T) {
	for _, tt := range []struct {
		nat                        lab.NAT
		mapping, upstream, hairpin report.Verdict
		layer                      string
	}{
		{lab.Masquerade, report.Pass, report.Pass, report.Fail, ""},
		{lab.MasqueradeFullyRandom, report.Fail, report.Pass, report.Fail, "(this router)"},
		// The public mapping is the carrier NAT's: no hairpin is its.
		{lab.DoubleNAT, report.Fail, report.Warn, report.Warn, "(upstream NAT)"},
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			coturn(t, l)
			links := routerLinks(t, l)
			lan, a := daemonLANProbe(t, l)
			var r report.Report
			waitFor(t, 10*time.Second, "both probes in the report", func() (bool, string) {
				r, _ = getReport(t, a)
				return r.Probe.WAN != nil, fmt.Sprintf("%+v", r.Probe)
			})
			if r.Probe.WAN.Report == nil {
				t.Fatalf("the WAN probe failed: %+v", r.Probe.WAN)
			}
			want := map[string]report.Verdict{report.IDMappingUDP: tt.mapping, report.IDFiltering: report.Pass,
				report.IDUpstreamNAT: tt.upstream, report.IDHairpin: tt.hairpin}
			for id, v := range want {
				if c := r.Check(id); c.Verdict != v {
					t.Errorf("%s = %s (%s %q), want %s", id, c.Verdict, c.Summary, c.Evidence, v)
				}
			}
			if c := r.Check(report.IDMappingUDP); !strings.Contains(strings.Join(c.Evidence, " "), tt.layer) {
				t.Errorf("mapping.udp evidence %q does not name %q", c.Evidence, tt.layer)
			}
			host := runProbe(t, l, l.LAN[0])
			if host.Mapping != lan.Report.Mapping || host.TCPMapping != lan.Report.TCPMapping || host.Filtering != lan.Report.Filtering {
				t.Errorf("daemon's namespace: mapping %s, tcp %s, filtering %s; LAN host: %s, %s, %s", lan.Report.Mapping,
					lan.Report.TCPMapping, lan.Report.Filtering, host.Mapping, host.TCPMapping, host.Filtering)
			}
			sameHairpin(t, host, *lan.Report)
			if after := routerLinks(t, l); after != links {
				t.Errorf("router links after the probe:\n%s\nbefore:\n%s", after, links)
			}
			noNetnsHeld(t, a)
		})
	}
}

// routerLinks lists the lab router's links (names, state, MACs).
func routerLinks(t *testing.T, l *lab.Lab) string {
	t.Helper()
	out, err := l.Router.Run(context.Background(), "ip", "-br", "link")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// noNetnsHeld: the daemon holds no network namespace handle between probes.
func noNetnsHeld(t *testing.T, a *labagent.Agent) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", a.Daemon.Process.Pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, _ := os.Readlink(filepath.Join(dir, fd.Name())); strings.HasPrefix(target, "net:[") {
			t.Errorf("the daemon still holds a network namespace: fd %s -> %s", fd.Name(), target)
		}
	}
}

// TestDaemonVantageCleanup stops the daemon (SIGTERM) while its namespace
// probe runs: the veth and the router's neighbour entry go before it
// exits. The introducer never answers (an address nobody holds), so the
// probe runs its full timeout, and the signal follows the veth's creation
// as `ip monitor` reports it. Leftovers of a killed daemon are
// TestVantageLeftover's (package agent).
func TestDaemonVantageCleanup(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	links := routerLinks(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	mon := l.Router.Command(ctx, "ip", "-o", "monitor", "link")
	out, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); mon.Wait() }()
	created := make(chan struct{})
	go func() {
		for sc := bufio.NewScanner(out); sc.Scan(); {
			if strings.Contains(sc.Text(), "np2p-vant0") {
				close(created)
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	time.Sleep(200 * time.Millisecond) // the monitor subscribes
	a := startDaemon(t, l, "--introducer", "203.0.113.99:3478")
	select {
	case <-created:
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon created no veth")
	}
	if err := a.Daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := l.Router.Wait(a.Daemon); err != nil {
		t.Errorf("the daemon did not stop cleanly on SIGTERM: %v", err)
	}
	if after := routerLinks(t, l); after != links {
		t.Errorf("router links after the stop:\n%s\nbefore:\n%s", after, links)
	}
	if neigh, _ := l.Router.Run(context.Background(), "ip", "neigh", "show", vantageAddr.String()); strings.Contains(string(neigh), "PERMANENT") {
		t.Errorf("the vantage's neighbour entry is left after a stop: %s", neigh)
	}
}

// TestDaemonProbeFallback: without a LAN-side namespace the daemon probes
// from the router's LAN address, and the hairpin check says why it is not
// measured: here the LAN interface is a veth, not a bridge, or the
// namespace is switched off.
func TestDaemonProbeFallback(t *testing.T) {
	for _, tt := range []struct {
		name, from, reason, summary string
		args                        []string
	}{
		{"not a bridge", "192.0.2.1", "LAN interface lan1 is a veth, not a bridge",
			"no LAN-side namespace: LAN interface lan1 is a veth, not a bridge", []string{"--lan", "lan1"}},
		{"switched off", "198.51.100.1", "", "the router's own probe cannot hairpin", []string{"--probe-netns=false"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := labtest.New(t, lab.Config{})
			if err := l.AddPlainLAN(context.Background(), "lan1", netip.MustParsePrefix("192.0.2.1/24")); err != nil {
				t.Fatal(err)
			}
			coturn(t, l)
			a := startDaemon(t, l, append([]string{"--introducer", net.JoinHostPort(l.ServerAddrs[0].String(), "3478")}, tt.args...)...)
			lan := waitLANProbe(t, a)
			if lan.Netns || lan.NetnsError != tt.reason || lan.From.String() != tt.from || lan.Report == nil {
				t.Errorf("LAN probe %+v; want one from %s without a namespace, because %q", lan, tt.from, tt.reason)
			}
			r, _ := getReport(t, a)
			if c := r.Check(report.IDHairpin); c.Verdict != report.Unknown || !strings.Contains(c.Summary, tt.summary) {
				t.Errorf("hairpin = %s %q, want UNKNOWN saying %q", c.Verdict, c.Summary, tt.summary)
			}
		})
	}
}

// TestDaemonProbeEnforcedHairpin: enforce mode's hairpin rules make the
// router hairpin, and the daemon's namespace probe sees it as a LAN host
// does (true), behind a fully-random masquerade.
func TestDaemonProbeEnforcedHairpin(t *testing.T) {
	el := newEnforceLab(t, lab.Nftables)
	coturn(t, el.Lab)
	lan, a := daemonLANProbe(t, el.Lab, "--mode", "enforce", "--backend", "nftables", "--lan", el.LANIface)
	if h := lan.Report.Hairpin; h == nil || !*h {
		t.Errorf("daemon's namespace: hairpin %s under enforce mode, want true\n%+v", fmtBool(h), lan.Report.Tests)
	}
	host := runProbe(t, el.Lab, el.LAN[1])
	sameHairpin(t, host, *lan.Report)
	r, _ := getReport(t, a)
	if c := r.Check(report.IDHairpin); c.Verdict != report.Pass {
		t.Errorf("hairpin = %s (%s), want PASS", c.Verdict, c.Summary)
	}
}

// TestProbeLifetime measures an idle UDP mapping's lifetime with the
// router's conntrack UDP timeouts set to 10 s: the search must bracket it.
func TestProbeLifetime(t *testing.T) {
	l := labtest.New(t, lab.Config{UDPTimeout: 10})
	coturn(t, l)
	r := runProbe(t, l, l.LAN[0], "--no-tcp", "--lifetime", "--lifetime-step", "2s", "--lifetime-max", "20s")
	t.Logf("lifetime: %v", r.Lifetime)
	if r.Lifetime == nil || r.Lifetime.Min > 10*time.Second || r.Lifetime.Max < 10*time.Second || r.Lifetime.Max == 0 {
		t.Errorf("lifetime %+v, want a bracket around the 10 s timeout", r.Lifetime)
	}
}

// TestProbeLayers probes from the router's LAN and WAN addresses and
// splits the verdicts: under double NAT the upstream CGN breaks mapping;
// under plain masquerade there is no upstream NAT.
func TestProbeLayers(t *testing.T) {
	for _, tt := range []struct {
		nat      lab.NAT
		upstream bool
		layers   []probe.Layer
	}{
		{lab.Masquerade, false, []probe.Layer{{Name: probe.LayerRouter, Mapping: probe.EndpointIndependent,
			TCPMapping: probe.EndpointIndependent, Filtering: probe.AddressAndPortDependent}}},
		{lab.DoubleNAT, true, []probe.Layer{
			{Name: probe.LayerRouter, Mapping: probe.Unknown, TCPMapping: probe.Unknown, Filtering: probe.Unknown},
			{Name: probe.LayerUpstream, Mapping: probe.AddressAndPortDependent, TCPMapping: probe.AddressAndPortDependent,
				Filtering: probe.AddressAndPortDependent}}},
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			ourIntroducer(t, l)
			r := runProbe(t, l, l.Router, "--local", l.RouterLAN.String(), "--upstream-from", l.RouterWAN.String())
			if r.UpstreamNAT == nil || *r.UpstreamNAT != tt.upstream {
				t.Errorf("upstream NAT %v, want %v", r.UpstreamNAT, tt.upstream)
			}
			if diff := cmp.Diff(tt.layers, r.Layers); diff != "" {
				t.Errorf("layers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProbeWithoutRFC5780 probes two single-address servers (introducers
// in RFC 5780's degraded mode): mapping from the two, filtering unknown.
func TestProbeWithoutRFC5780(t *testing.T) {
	for _, tt := range []struct {
		nat     lab.NAT
		mapping probe.Behaviour
	}{
		{lab.Masquerade, probe.EndpointIndependent},
		{lab.MasqueradeFullyRandom, probe.AddressDependent}, // the least two servers can tell
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			for _, a := range l.ServerAddrs {
				if _, err := l.WAN.Start(context.Background(), introducerBin, "--primary", a.String()); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.WAN.WaitUDP(context.Background(), lab.STUNPort, 2); err != nil {
				t.Fatal(err)
			}
			r := runProbe(t, l, l.LAN[0], "--no-tcp", "--second", net.JoinHostPort(l.ServerAddrs[1].String(), "3478"))
			if r.Mapping != tt.mapping || r.Filtering != probe.Unknown || r.Other.IsValid() {
				t.Errorf("mapping %s, filtering %s, other %v; want %s, unknown, none", r.Mapping, r.Filtering, r.Other, tt.mapping)
			}
		})
	}
}
