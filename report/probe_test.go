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

// TestEnforcedHairpin: enforce mode's hairpin verdict comes from
// evidence, never from the rules alone: the namespace probe and the
// hairpinned flows conntrack showed. Rules nothing has shown working yet
// are UNKNOWN; evidence against them fails, naming the cause it can.
func TestEnforcedHairpin(t *testing.T) {
	yes, no := true, false
	const a, b, pubA, pubB = "198.51.100.10:5000", "198.51.100.11:6000", "203.0.113.1:7482", "203.0.113.1:61854"
	toWAN := nat(conntrackmap.UDP, a, "203.0.113.10:4000", pubA)
	bridged := 1
	for _, tt := range []struct {
		name     string
		events   []conntrackmap.Event
		hairpin  *bool // the namespace probe's; nil: not tested
		netns    bool
		noProbe  bool
		bridgeNF *int
		want     Verdict
		text     []string
	}{
		{"the probe saw it", nil, &yes, true, false, nil, Pass, []string{"seen working by the LAN-side probe", "ago: hairpinned"}},
		{"the probe saw nothing, conntrack has no entry", nil, &no, true, false, nil, Fail,
			[]string{"nothing came back through 203.0.113.1:40000", "no hairpinned flow from 198.51.100.254", "drops LAN-to-LAN"}},
		{"the probe saw nothing, conntrack translated it",
			[]conntrackmap.Event{hairpinned("198.51.100.254:5001", "203.0.113.1:40000", "198.51.100.254:5000", "203.0.113.1:40001", false)},
			&no, true, false, nil, Fail, []string{"lost after the NAT", "198.51.100.254:5001 -> 203.0.113.1:40000/udp"}},
		{"the router's own probe cannot tell", nil, &no, false, false, nil, Unknown,
			[]string{"not yet seen working", "cannot hairpin as a LAN host does"}},
		{"not tested", nil, nil, true, false, nil, Unknown, []string{"not yet seen working", "could not test"}},
		{"no introducer", nil, nil, true, true, nil, Unknown, []string{"no hairpinned flow in conntrack yet", "no introducer configured"}},
		{"flows from the sender's mapping, answered", []conntrackmap.Event{toWAN, hairpinned(a, pubB, b, pubA, true)},
			nil, true, true, nil, Pass, []string{"seen working: 1 hairpinned flow", a + " -> " + pubB + "/udp reached " + b +
				" from " + pubA + " (the sender's public endpoint), answered"}},
		{"flows from the sender's mapping, no reply yet", []conntrackmap.Event{toWAN, hairpinned(a, pubB, b, pubA, false)},
			nil, true, true, nil, Warn, []string{"none got a reply yet", "no reply yet"}},
		{"translated flows and the probe's delivery", []conntrackmap.Event{toWAN, hairpinned(a, pubB, b, pubA, false)},
			&yes, true, false, nil, Pass, []string{"seen working by the LAN-side probe", "ago: hairpinned"}},
		{"the sender's private source, bridge netfilter on", []conntrackmap.Event{hairpinned(a, pubB, b, a, false)},
			&yes, true, false, &bridged, Fail, []string{"bridge netfilter is on", "bridge-nf-call-iptables = 1",
				a + " -> " + pubB + "/udp reached " + b + " from " + a + " (the sender's private address), no reply yet"}},
		{"the sender's private source, no bridge netfilter", []conntrackmap.Event{hairpinned(a, pubB, b, a, false)},
			nil, true, true, nil, Fail, []string{"did not apply", "REQ-9a"}},
		{"the router's LAN address", []conntrackmap.Event{hairpinned(a, pubB, b, "198.51.100.1:5000", true)},
			nil, true, true, nil, Fail, []string{"router's LAN address 198.51.100.1", "NAT reflection"}},
		{"another public endpoint", []conntrackmap.Event{toWAN, hairpinned(a, pubB, b, "203.0.113.1:9999", true)},
			nil, true, true, nil, Warn, []string{"another public endpoint than the sender's mapping"}},
		{"a private source earlier, working since", []conntrackmap.Event{hairpinned(a, pubB, b, a, false),
			gone(hairpinned(a, pubB, b, a, false)), toWAN, hairpinned(a, pubB, b, pubA, true)},
			nil, true, true, nil, Pass, []string{"seen working"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := input(tt.events...)
			in.LAN = []Interface{{Name: "br-lan", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}}
			in.Enforcement = enforcing(status.Status{Installed: true, PlannerStats: status.PlannerStats{Pins: 2}})
			in.BridgeNFCallIptables = tt.bridgeNF
			if !tt.noProbe {
				in.Probe = probed("lan", "198.51.100.254", probe.EndpointIndependent, probe.AddressAndPortDependent, true, "203.0.113.1:40000")
				in.Probe.Netns, in.Probe.Report.Hairpin = tt.netns, tt.hairpin
				if tt.hairpin != nil && *tt.hairpin {
					in.Probe.Report.Tests = append(in.Probe.Report.Tests, probe.Test{Name: "hairpin", Answered: true,
						From: netip.MustParseAddrPort("203.0.113.1:40002")})
				}
			}
			r := Build(in)
			c := r.Check(IDHairpin)
			all := c.Summary + " | " + strings.Join(c.Evidence, " | ")
			if c.Verdict != tt.want {
				t.Errorf("hairpin = %s %q, want %s", c.Verdict, all, tt.want)
			}
			for _, text := range tt.text {
				if !strings.Contains(all, text) {
					t.Errorf("hairpin %q lacks %q", all, text)
				}
			}
		})
	}
}

// hairpinned is a hairpinned flow's event: sender -> public, sent on to
// target, which saw source.
func hairpinned(sender, public, target, source string, replied bool) conntrackmap.Event {
	f := conntrackmap.Flow{Proto: conntrackmap.UDP, Orig: conntrackmap.Tuple{Src: ap(sender), Dst: ap(public)},
		Reply: conntrackmap.Tuple{Src: ap(target), Dst: ap(source)}, Replied: replied, Hairpin: conntrackmap.HairpinPublic}
	if !strings.HasPrefix(source, "203.0.113.") {
		f.Hairpin = conntrackmap.HairpinPrivate
	}
	return conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f}
}

func gone(ev conntrackmap.Event) conntrackmap.Event {
	ev.Type = conntrackmap.EventDestroy
	return ev
}
