//go:build integration

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

// punchCase is a router in the lab and what the punch checks must say of
// it.
type punchCase struct {
	nat                lab.NAT
	filter             lab.WANFilter
	unsolicited        probe.Unsolicited
	udp, tcp           bool
	udpCause, tcpCause string // in the failing check's summary
}

// TestProbePunch runs natp2p-agent probe from a LAN host against
// natp2p-introducer and checks tcp.unsolicited, p2p.udp and p2p.tcp
// against what the lab's router does: an OpenWrt-like WAN filter that
// rejects with tcp-reset fails tcp.unsolicited, one that drops passes;
// hole punching works through a masquerade that drops, and fails, with the
// cause named, through a fully-random NAT. The daemon's LAN-side
// namespace must see the same. The router's NAT and WAN filter are
// nftables or iptables rules, its bridge netfilter off or on.
func TestProbePunch(t *testing.T) {
	cases := []punchCase{
		{nat: lab.Masquerade, filter: lab.WANDrop, unsolicited: probe.UnsolicitedDropped, udp: true, tcp: true},
		{nat: lab.Masquerade, filter: lab.WANReject, unsolicited: probe.UnsolicitedReset, udp: true,
			tcpCause: "RST to unsolicited SYN"},
		{nat: lab.Masquerade, unsolicited: probe.UnsolicitedReset, udp: true, tcpCause: "RST to unsolicited SYN"},
		{nat: lab.Masquerade, filter: lab.WANProhibit, unsolicited: probe.UnsolicitedICMP, udp: true,
			tcpCause: "ICMP error to unsolicited SYN"},
		{nat: lab.MasqueradeFullyRandom, filter: lab.WANDrop, unsolicited: probe.UnsolicitedDropped,
			udpCause: "mapping varies", tcpCause: "mapping varies"},
	}
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		for _, brnf := range []bool{false, true} {
			for _, tt := range cases {
				name := fmt.Sprintf("%s/bridge-nf=%t/%s/%s", fw, brnf, tt.nat, tt.filter)
				if tt.filter == lab.WANOpen {
					name += "open"
				}
				t.Run(name, func(t *testing.T) {
					l := labtest.New(t, lab.Config{NAT: tt.nat, Backend: fw, BridgeNetfilter: brnf, WANFilter: tt.filter})
					ourIntroducer(t, l)
					host := runProbe(t, l, l.LAN[0])
					checkPunch(t, "LAN host", &report.ProbeResult{Vantage: "lan", From: l.LAN[0].Addr(), Report: &host, Netns: true}, tt)
					lan, _ := daemonLANProbe(t, l)
					checkPunch(t, "daemon's LAN-side namespace", lan, tt)
				})
			}
		}
	}
}

// TestProbePunchCoturn: coturn offers neither measurement; its answers
// leave the three checks UNKNOWN and the rest of the probe as it was.
func TestProbePunchCoturn(t *testing.T) {
	l := labtest.New(t, lab.Config{WANFilter: lab.WANDrop})
	coturn(t, l)
	host := runProbe(t, l, l.LAN[0])
	if host.Mapping != probe.EndpointIndependent || host.TCPMapping != probe.EndpointIndependent {
		t.Errorf("mapping %s, tcp mapping %s; want endpoint-independent\n%+v", host.Mapping, host.TCPMapping, host.Tests)
	}
	r := report.Build(report.Input{Now: host.GeneratedAt, Probe: &report.ProbeResult{Vantage: "lan", From: l.LAN[0].Addr(), Report: &host, Netns: true}})
	for _, id := range []string{report.IDTCPUnsolicited, report.IDP2PTCP} {
		if c := r.Check(id); c.Verdict != report.Unknown {
			t.Errorf("%s = %s (%s) with coturn, want UNKNOWN", id, c.Verdict, c.Summary)
		}
	}
	// coturn answers from its alternate address and port: UDP punching
	// needs nothing more of it.
	if c := r.Check(report.IDP2PUDP); c.Verdict != report.Pass {
		t.Errorf("%s = %s (%s) with coturn, want PASS", report.IDP2PUDP, c.Verdict, c.Summary)
	}
}

// checkPunch checks one vantage's probe and the verdicts built from it.
func checkPunch(t *testing.T, vantage string, p *report.ProbeResult, tt punchCase) {
	t.Helper()
	r := p.Report
	if r.TCPUnsolicited != tt.unsolicited || r.P2PUDP == nil || *r.P2PUDP != tt.udp || r.P2PTCP == nil || *r.P2PTCP != tt.tcp {
		t.Errorf("%s: unsolicited SYN %s, p2p udp %s, p2p tcp %s; want %s, %v, %v\n%+v", vantage, r.TCPUnsolicited,
			fmtBool(r.P2PUDP), fmtBool(r.P2PTCP), tt.unsolicited, tt.udp, tt.tcp, r.Tests)
	}
	rep := report.Build(report.Input{Now: r.GeneratedAt, Probe: p})
	want := map[string]report.Verdict{report.IDTCPUnsolicited: report.Pass, report.IDP2PUDP: report.Pass, report.IDP2PTCP: report.Pass}
	if tt.unsolicited != probe.UnsolicitedDropped {
		want[report.IDTCPUnsolicited] = report.Fail
	}
	causes := map[string]string{report.IDP2PUDP: tt.udpCause, report.IDP2PTCP: tt.tcpCause}
	for id, cause := range causes {
		if cause != "" {
			want[id] = report.Fail
		}
	}
	for id, v := range want {
		c := rep.Check(id)
		if c.Verdict != v || !strings.Contains(c.Summary, causes[id]) {
			t.Errorf("%s: %s = %s (%s), want %s naming %q\n%q", vantage, id, c.Verdict, c.Summary, v, causes[id], c.Evidence)
		}
	}
}
