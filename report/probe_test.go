package report

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
	"github.com/natp2p/natp2p/probe"
)

func probed(vantage, from string, mapping, filtering probe.Behaviour, nat bool, public string) *ProbeResult {
	return &ProbeResult{Vantage: vantage, From: netip.MustParseAddr(from), Report: &probe.Report{
		GeneratedAt: t0, Introducer: ap("203.0.113.10:3478"), Public: ap(public),
		Mapping: mapping, TCPMapping: mapping, Filtering: filtering, NAT: &nat}}
}

func TestProbeChecks(t *testing.T) {
	eim, apdm := probe.EndpointIndependent, probe.AddressAndPortDependent
	tests := []struct {
		name     string
		lan, wan *ProbeResult
		want     map[string]Verdict
		contains map[string]string // check ID -> text in summary or evidence
	}{
		{"this router breaks mapping",
			probed("lan", "198.51.100.1", apdm, apdm, true, "203.0.113.1:40000"),
			probed("wan", "203.0.113.1", eim, apdm, false, "203.0.113.1:40001"),
			map[string]Verdict{IDMappingUDP: Fail, IDMappingTCP: Fail, IDFiltering: Pass, IDUpstreamNAT: Pass, IDHairpin: Unknown},
			map[string]string{IDMappingUDP: "(this router)", IDUpstreamNAT: "no NAT upstream"}},
		{"upstream breaks mapping",
			probed("lan", "198.51.100.1", apdm, apdm, true, "198.51.100.77:40000"),
			probed("wan", "100.64.0.2", apdm, apdm, true, "198.51.100.77:40001"),
			map[string]Verdict{IDMappingUDP: Fail, IDUpstreamNAT: Warn},
			map[string]string{IDMappingUDP: "(upstream NAT)", IDUpstreamNAT: "the introducer sees 198.51.100.77"}},
		{"endpoint-independent before any flow",
			probed("lan", "198.51.100.1", eim, eim, true, "203.0.113.1:40000"), nil,
			map[string]Verdict{IDMappingUDP: Pass, IDFiltering: Warn},
			map[string]string{IDFiltering: "anyone who learns a mapping"}},
		{"failed probe",
			&ProbeResult{Vantage: "lan", From: netip.MustParseAddr("198.51.100.1"), Error: "the introducer did not answer"}, nil,
			map[string]Verdict{IDMappingUDP: Unknown, IDFiltering: Unknown},
			map[string]string{IDFiltering: "the introducer did not answer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input()
			in.Probe, in.UpstreamProbe = tt.lan, tt.wan
			if tt.lan != nil && tt.wan != nil {
				probe.Attribute(tt.lan.Report, tt.wan.Report, tt.wan.From)
			}
			in.Now = t0.Add(3 * time.Minute)
			r := Build(in)
			for id, want := range tt.want {
				if c := r.Check(id); c.Verdict != want {
					t.Errorf("%s = %s (%s), want %s", id, c.Verdict, c.Summary, want)
				}
			}
			for id, text := range tt.contains {
				c := r.Check(id)
				if all := c.Summary + " | " + strings.Join(c.Evidence, " | "); !strings.Contains(all, text) {
					t.Errorf("%s says %q, want %q in it", id, all, text)
				}
			}
		})
	}
}

func TestConntrackFailureStandsAgainstProbe(t *testing.T) {
	in := input(
		nat(conntrackmap.UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
		nat(conntrackmap.UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:5000"))
	in.Probe = probed("lan", "198.51.100.1", probe.EndpointIndependent, probe.AddressAndPortDependent, true, "203.0.113.1:40000")
	r := Build(in)
	c := r.Check(IDMappingUDP)
	if c.Verdict != Fail || !strings.Contains(strings.Join(c.Evidence, " "), "disagrees with conntrack") {
		t.Errorf("mapping.udp = %s %q, want FAIL noting the disagreement", c.Verdict, c.Evidence)
	}
}

func TestHairpinFromTheProbe(t *testing.T) {
	yes, no := true, false
	lan := func(netns bool, hairpin *bool, from string) *ProbeResult {
		p := probed("lan", "198.51.100.254", probe.EndpointIndependent, probe.AddressAndPortDependent, true, "203.0.113.1:40000")
		p.Netns, p.Report.Hairpin = netns, hairpin
		if from != "" {
			p.Report.Tests = []probe.Test{{Name: "hairpin", Proto: "udp", Answered: true, From: ap(from)}}
		}
		return p
	}
	pool := lan(true, &yes, "203.0.113.2:40002")
	pool.Report.Tests = append(pool.Report.Tests, probe.Test{Name: "mapping2", Proto: "udp", Answered: true, Mapped: ap("203.0.113.2:40001")})
	fallback := lan(false, &no, "")
	fallback.From, fallback.NetnsError = netip.MustParseAddr("198.51.100.1"), "veth unavailable (install kmod-veth)"
	for _, tt := range []struct {
		name string
		lan  *ProbeResult
		want Verdict
		text string
	}{
		{"hairpins with public sources", lan(true, &yes, "203.0.113.1:40002"), Pass, "(LAN-side namespace)"},
		{"dropped", lan(true, &no, ""), Fail, "nothing came back through 203.0.113.1:40000"},
		{"private source", lan(true, &yes, "198.51.100.254:5000"), Fail, "REQ-9a"},
		{"another address of the pool", pool, Pass, "hairpinned"},
		{"a public source the probes never saw", lan(true, &yes, "192.0.2.99:5000"), Warn, "none of the public addresses"},
		{"the router's LAN address cannot tell", lan(false, &no, ""), Unknown, "cannot hairpin as a LAN host does"},
		{"no namespace", fallback, Unknown, "no LAN-side namespace: veth unavailable (install kmod-veth)"},
		{"not tested", lan(true, nil, ""), Unknown, "could not test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := input()
			in.Probe = tt.lan
			r := Build(in)
			c := r.Check(IDHairpin)
			if all := c.Summary + " | " + strings.Join(c.Evidence, " | "); c.Verdict != tt.want || !strings.Contains(all, tt.text) {
				t.Errorf("hairpin = %s %q, want %s with %q", c.Verdict, all, tt.want, tt.text)
			}
		})
	}
}

// TestHairpinBehindUpstreamNAT: no hairpin through the upstream NAT's
// mapping is the upstream layer's, not a FAIL of this router.
func TestHairpinBehindUpstreamNAT(t *testing.T) {
	no := false
	in := input()
	in.Probe = probed("lan", "198.51.100.254", probe.AddressAndPortDependent, probe.AddressAndPortDependent, true, "192.0.2.77:40000")
	in.Probe.Netns, in.Probe.Report.Hairpin = true, &no
	in.UpstreamProbe = probed("wan", "100.64.0.2", probe.AddressAndPortDependent, probe.AddressAndPortDependent, true, "192.0.2.77:40001")
	r := Build(in)
	if c := r.Check(IDHairpin); c.Verdict != Warn || !strings.Contains(c.Summary, "upstream NAT") {
		t.Errorf("hairpin = %s (%s), want WARN naming the upstream NAT", c.Verdict, c.Summary)
	}
}

// TestEnforcedHairpin: enforce mode's hairpin rules pass unless the
// namespace probe, a LAN host's view, saw nothing come back; then it
// fails with the probe's evidence.
func TestEnforcedHairpin(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		name    string
		hairpin *bool
		netns   bool
		want    Verdict
		text    string
	}{
		{"the probe saw it", &yes, true, Pass, "enforced"},
		{"the probe saw nothing", &no, true, Fail, "nothing came back through 203.0.113.1:40000"},
		{"the router's own probe cannot tell", &no, false, Pass, "enforced"},
		{"not tested", nil, true, Pass, "enforced"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := input()
			in.Enforcement = enforcing(status.Status{Installed: true})
			in.Probe = probed("lan", "198.51.100.254", probe.EndpointIndependent, probe.AddressAndPortDependent, true, "203.0.113.1:40000")
			in.Probe.Netns, in.Probe.Report.Hairpin = tt.netns, tt.hairpin
			r := Build(in)
			c := r.Check(IDHairpin)
			if all := c.Summary + " | " + strings.Join(c.Evidence, " | "); c.Verdict != tt.want || !strings.Contains(all, tt.text) {
				t.Errorf("hairpin = %s %q, want %s with %q", c.Verdict, all, tt.want, tt.text)
			}
		})
	}
}
