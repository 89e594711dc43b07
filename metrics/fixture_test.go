package metrics

import (
	"net/netip"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

var (
	t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ap = netip.MustParseAddrPort
)

func nat(p conntrackmap.Proto, private, remote, public string) conntrackmap.Event {
	return conntrackmap.Event{Type: conntrackmap.EventNew, Flow: conntrackmap.Flow{Proto: p,
		Orig:  conntrackmap.Tuple{Src: ap(private), Dst: ap(remote)},
		Reply: conntrackmap.Tuple{Src: ap(remote), Dst: ap(public)}}}
}

func stockSysctls() map[string]int {
	sys := map[string]int{report.SysctlUDPTimeout: 30, report.SysctlUDPTimeoutStream: 120, report.SysctlTCPEstablished: 7440}
	for i, name := range report.TransitorySysctls {
		sys[name] = []int{120, 60, 120, 60, 30, 120}[i]
	}
	return sys
}

// table is a table that saw a fully-random UDP mapping and an overloaded
// TCP port.
func table() conntrackmap.Summary {
	tab := conntrackmap.New(conntrackmap.Config{Now: func() time.Time { return t0 }})
	tab.ApplyAll([]conntrackmap.Event{
		nat(conntrackmap.UDP, "198.51.100.10:1234", "203.0.113.10:3478", "203.0.113.1:29352"),
		nat(conntrackmap.UDP, "198.51.100.10:1234", "203.0.113.11:3478", "203.0.113.1:1234"),
		nat(conntrackmap.TCP, "198.51.100.10:5000", "203.0.113.10:80", "203.0.113.1:5000"),
		nat(conntrackmap.TCP, "198.51.100.11:5000", "203.0.113.11:80", "203.0.113.1:5000"),
	})
	return tab.Summary()
}

func ptr[T any](v T) *T { return &v }

// lanProbe and wanProbe saw this router map address-and-port-dependently
// behind no upstream NAT.
func lanProbe() *report.ProbeResult {
	return &report.ProbeResult{Vantage: "lan", From: netip.MustParseAddr("198.51.100.254"), Netns: true, Report: &probe.Report{
		GeneratedAt: t0.Add(30 * time.Second), Introducer: ap("203.0.113.10:3478"), Public: ap("203.0.113.1:40000"),
		Mapping: probe.AddressAndPortDependent, TCPMapping: probe.EndpointIndependent, Filtering: probe.AddressDependent,
		Hairpin: ptr(false), PortPreservation: ptr(true), NAT: ptr(true),
		Lifetime: &probe.Lifetime{Min: 30 * time.Second, Max: 45 * time.Second},
		Duration: 1500 * time.Millisecond}}
}

func wanProbe() *report.ProbeResult {
	return &report.ProbeResult{Vantage: "wan", From: netip.MustParseAddr("203.0.113.1"), Report: &probe.Report{
		GeneratedAt: t0.Add(31 * time.Second), Introducer: ap("203.0.113.10:3478"), Public: ap("203.0.113.1:40001"),
		Mapping: probe.EndpointIndependent, TCPMapping: probe.EndpointIndependent, Filtering: probe.EndpointIndependent,
		NAT: ptr(false), Duration: 250 * time.Millisecond}}
}

func enforcement() *report.Enforcement {
	at := t0.Add(-time.Hour)
	return &report.Enforcement{Mode: "enforce", Mapping: true, Hairpin: true, Timeouts: true, Status: status.Status{
		Backend: "nftables", Installed: true,
		PlannerStats: status.PlannerStats{Pins: 3, Pinned: 40, Adopted: 2, Removed: 39, Moved: 1, Repaired: 5,
			QuotaHits: 7, NoPort: 0, Disagreeing: 1},
		Reinstalls: 2, Raised: []status.TimeoutChange{{Name: report.SysctlUDPTimeout, Was: 30, Now: 300}},
		QuotaFull:  []netip.Addr{netip.MustParseAddr("198.51.100.12")},
		InstallP50: 800 * time.Microsecond, InstallP99: 12 * time.Millisecond,
		Failures: 1, Error: "netlink: no buffer space", ErrorAt: &at}}
}

// full is an Input with every part: a daemon in enforce mode that probes
// from both vantage points.
func full() Input {
	s := table()
	lan, wan := lanProbe(), wanProbe()
	probe.Attribute(lan.Report, wan.Report, wan.From)
	r := report.Build(report.Input{Now: t0.Add(90 * time.Second), Host: "router", Source: report.SourceDaemon,
		Table: s, Sysctls: stockSysctls(), NATHelpers: []string{"nf_nat_sip"},
		WAN:       []report.Interface{{Name: "wan", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.1")}}},
		Conntrack: &report.SourceStats{Events: 1234, Resyncs: 1, Overflows: 2},
		Probe:     lan, UpstreamProbe: wan, Enforcement: enforcement()})
	return Input{Report: &r, Table: &s,
		Probes: &ProbeCounters{LAN: &ProbeStats{Runs: 4, Failures: 1, LastSuccess: t0.Add(30 * time.Second)},
			WAN: &ProbeStats{Runs: 4}},
		Build:  BuildInfo{Version: "0.1.0", GoVersion: "go1.23.12"},
		Device: Device{Model: "TP-Link Archer C7 v5", Firmware: "OpenWrt 24.10.0 r28427-6df0e3d02a"}}
}

// snapshot is the least Input: a one-shot report read back from JSON,
// observe mode, no probe, nothing known of the device.
func snapshot() Input {
	r := report.Build(report.Input{Now: t0, Host: "router", Source: report.SourceSnapshot,
		Table: conntrackmap.Summary{Since: t0}})
	return Input{Report: &r}
}

// probeFailed is a snapshot with a LAN probe that got no answer.
func probeFailed() Input {
	in := snapshot()
	in.Report.Probe = &report.Probes{LAN: &report.ProbeResult{Vantage: "lan", Error: "the introducer did not answer"}}
	return in
}
