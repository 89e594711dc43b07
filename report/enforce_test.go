package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
	"github.com/natp2p/natp2p/probe"
)

func enforcing(st status.Status) *Enforcement {
	st.Backend = "nftables"
	return &Enforcement{Mode: "enforce", Mapping: true, Hairpin: true, Timeouts: true, Status: st}
}

func TestEnforcedChecks(t *testing.T) {
	// A session that got a second public endpoint before its pin was in
	// place, since translated again (the flow is gone).
	before := nat(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.11:3478", "203.0.113.1:41000")
	gone := before
	gone.Type = conntrackmap.EventDestroy
	healed := []conntrackmap.Event{nat(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"),
		before, gone, nat(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.11:3478", "203.0.113.1:40000")}
	// A live disagreement: two public endpoints now.
	split := []conntrackmap.Event{nat(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"),
		nat(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.11:3478", "203.0.113.1:41000")}
	ok := status.Status{Installed: true, PlannerStats: status.PlannerStats{Pins: 1}}

	tests := []struct {
		name   string
		events []conntrackmap.Event
		e      *Enforcement
		probe  *probe.Report
		want   map[string]Verdict
	}{
		{"observe mode fails on history", healed, nil, nil,
			map[string]Verdict{IDMappingUDP: Fail, IDHairpin: Unknown, IDMappingStable: Unknown}},
		{"enforced: the history no longer fails", healed, enforcing(ok), nil,
			map[string]Verdict{IDMappingUDP: Pass, IDHairpin: Unknown, IDMappingStable: Pass, IDPortOverloading: Pass}},
		{"enforced, nothing seen yet", nil, enforcing(status.Status{Installed: true}), nil,
			map[string]Verdict{IDMappingUDP: Unknown, IDMappingTCP: Unknown, IDHairpin: Unknown, IDMappingStable: Unknown,
				IDPortOverloading: Unknown}},
		{"enforced, nothing seen yet, fully-random router NAT", nil, enforcing(status.Status{Installed: true, RandomNAT: true}), nil,
			map[string]Verdict{IDMappingUDP: Warn}},
		{"enforced, nothing seen yet, the probe saw it", nil, enforcing(status.Status{Installed: true}),
			&probe.Report{Mapping: probe.EndpointIndependent, TCPMapping: probe.EndpointIndependent},
			map[string]Verdict{IDMappingUDP: Pass, IDMappingTCP: Pass}},
		{"enforced, the kernel disagrees now", split, enforcing(ok), nil,
			map[string]Verdict{IDMappingUDP: Fail}},
		{"enforced, the probe disagrees", healed, enforcing(ok), &probe.Report{Mapping: probe.AddressAndPortDependent},
			map[string]Verdict{IDMappingUDP: Fail}},
		{"rules missing", healed, enforcing(status.Status{Error: "reinstall rules: boom"}), nil,
			map[string]Verdict{IDMappingUDP: Fail, IDHairpin: Fail, IDMappingStable: Fail}},
		{"older flows on another port", healed, enforcing(status.Status{Installed: true,
			PlannerStats: status.PlannerStats{Pins: 1, Disagreeing: 1}}), nil,
			map[string]Verdict{IDMappingStable: Warn}},
		{"a recent error", healed, enforcing(status.Status{Installed: true, Error: "update pins: EBUSY", ErrorAt: &t0}), nil,
			map[string]Verdict{IDMappingStable: Warn, IDMappingUDP: Pass}},
		{"fully-random router NAT, pins too late", healed, enforcing(status.Status{Installed: true, RandomNAT: true,
			PlannerStats: status.PlannerStats{Pins: 1}}), nil,
			map[string]Verdict{IDMappingUDP: Warn, IDMappingTCP: Warn, IDMappingStable: Pass}},
		{"fully-random router NAT, the probe saw it", healed, enforcing(status.Status{Installed: true, RandomNAT: true,
			PlannerStats: status.PlannerStats{Pins: 1}}), &probe.Report{Mapping: probe.AddressAndPortDependent},
			map[string]Verdict{IDMappingUDP: Fail}},
		{"forged sources' pins evicted", healed, enforcing(status.Status{Installed: true,
			PlannerStats: status.PlannerStats{Pins: 1, Evicted: 52}}), nil,
			map[string]Verdict{IDMappingStable: Pass, IDMappingUDP: Pass}},
		{"the public ports ran low", healed, enforcing(status.Status{Installed: true,
			PlannerStats: status.PlannerStats{Pins: 1, PressureHits: 3}}), nil,
			map[string]Verdict{IDMappingStable: Warn, IDMappingUDP: Pass}},
		{"an old error", healed, enforcing(status.Status{Installed: true, Error: "update pins: EBUSY", ErrorAt: ptr(t0.Add(-time.Hour)),
			PlannerStats: status.PlannerStats{Pins: 1}}), nil,
			map[string]Verdict{IDMappingStable: Pass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(tt.events...)
			in.Enforcement = tt.e
			if tt.probe != nil {
				tt.probe.GeneratedAt = t0
				in.Probe = &ProbeResult{Vantage: "lan", Report: tt.probe}
			}
			r := Build(in)
			got := verdicts(r)
			for id, want := range tt.want {
				if got[id] != want {
					c := r.Check(id)
					t.Errorf("%s = %s (%s %q), want %s", id, got[id], c.Summary, c.Evidence, want)
				}
			}
			var buf bytes.Buffer
			if err := WriteJSON(&buf, &r); err != nil {
				t.Fatal(err)
			}
			if err := Validate(buf.Bytes()); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestRaisedTimeoutsInEvidence(t *testing.T) {
	in := input()
	st := status.Status{Installed: true, Raised: []status.TimeoutChange{
		{Name: SysctlUDPTimeout, Was: 30, Now: 300},
		{Name: SysctlUDPTimeoutStream, Was: 120, Now: 300},
		{Name: TransitorySysctls[1], Was: 60, Now: 240}}}
	in.Enforcement = enforcing(st)
	in.Sysctls[SysctlUDPTimeout], in.Sysctls[SysctlUDPTimeoutStream] = 300, 300
	r := Build(in)
	udp := strings.Join(r.Check(IDTimeoutUDP).Evidence, "\n")
	if r.Check(IDTimeoutUDP).Verdict != Pass || !strings.Contains(udp, "udp_timeout 30 s -> 300 s") ||
		!strings.Contains(udp, "udp_timeout_stream 120 s -> 300 s") || strings.Contains(udp, "syn_recv") {
		t.Errorf("timeout.udp = %+v", r.Check(IDTimeoutUDP))
	}
	if trans := strings.Join(r.Check(IDTimeoutTCPTrans).Evidence, "\n"); !strings.Contains(trans, "tcp_timeout_syn_recv 60 s -> 240 s") {
		t.Errorf("timeout.tcp.transitory evidence %q lacks the raised syn_recv", trans)
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "mode: enforce (nftables)   mapping on, hairpin on, timeouts on   0 pins") {
		t.Errorf("text header lacks the enforcement line:\n%s", buf.String())
	}
	in.Enforcement.PreservePorts, in.Enforcement.Backend = true, "iptables"
	r = Build(in)
	buf.Reset()
	if err := WriteText(&buf, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "mode: enforce (iptables)   mapping on, hairpin on, timeouts on, ports preserved   0 pins") {
		t.Errorf("text header does not say ports are preserved:\n%s", buf.String())
	}
}

func ptr[T any](v T) *T { return &v }

// Under a fully-random NAT the iptables backend pins too late for the
// probe: its failure names the fix.
func TestProbeFailureNamesPreservePorts(t *testing.T) {
	in := input(nat(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"))
	in.Enforcement = enforcing(status.Status{Installed: true, RandomNAT: true, PlannerStats: status.PlannerStats{Pins: 1}})
	in.Enforcement.Backend = "iptables"
	in.Probe = &ProbeResult{Vantage: "lan", Report: &probe.Report{GeneratedAt: t0, Mapping: probe.AddressAndPortDependent}}
	r := Build(in)
	if c := r.Check(IDMappingUDP); c.Verdict != Fail || !strings.Contains(c.Summary, "iptables backend pins too late") ||
		!strings.Contains(c.Summary, "set preserve_ports") {
		t.Errorf("mapping.udp = %s %q, want FAIL naming preserve_ports", c.Verdict, c.Summary)
	}
	in.Enforcement.RandomNAT = false
	r = Build(in)
	if c := r.Check(IDMappingUDP); strings.Contains(c.Summary, "preserve_ports") {
		t.Errorf("without a random NAT, mapping.udp still names preserve_ports: %q", c.Summary)
	}
}

// TestEnforcedText checks an enforce-mode screen against a golden file:
// mappings seen working, a hairpinned flow whose receiver saw the
// sender's private address under bridge netfilter, and a mapping.stable
// with pins.
func TestEnforcedText(t *testing.T) {
	const a, b, pubB = "198.51.100.10:5000", "198.51.100.11:6000", "203.0.113.1:61854"
	in := input(nat(conntrackmap.UDP, a, "203.0.113.10:3478", "203.0.113.1:7482"),
		nat(conntrackmap.UDP, a, "203.0.113.11:3478", "203.0.113.1:7482"),
		nat(conntrackmap.UDP, b, "203.0.113.10:3478", pubB),
		hairpinned(a, pubB, b, a, false))
	in.Enforcement = enforcing(status.Status{Installed: true, PlannerStats: status.PlannerStats{Pins: 2, Pinned: 2}})
	in.BridgeNFCallIptables = ptr(1)
	r := Build(in)
	var buf bytes.Buffer
	if err := WriteText(&buf, &r); err != nil {
		t.Fatal(err)
	}
	golden(t, "report_enforce.txt", buf.Bytes())
}

// TestUnreadableTimeoutsInEnforceMode: a daemon out of file descriptors
// cannot read the sysctls; its enforce-mode report still validates (the
// timeout checks' evidence is empty, not null).
func TestUnreadableTimeoutsInEnforceMode(t *testing.T) {
	in := input()
	in.Sysctls = map[string]int{}
	in.Enforcement = enforcing(status.Status{Installed: true})
	r := Build(in)
	if err := validateChecks(r.Checks); err != nil {
		t.Fatal(err)
	}
	if c := r.Check(IDTimeoutTCP); c.Verdict != Unknown || c.Evidence == nil {
		t.Errorf("timeout.tcp = %+v, want UNKNOWN with empty evidence", c)
	}
}
