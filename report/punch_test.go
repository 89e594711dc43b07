package report

import (
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/probe"
)

// punched is a LAN probe with hole punching and unsolicited SYN results.
func punched(mapping probe.Behaviour, unsolicited probe.Unsolicited, udp, tcp *bool) *ProbeResult {
	p := probed("lan", "198.51.100.10", mapping, probe.AddressAndPortDependent, true, "203.0.113.1:40000")
	p.Netns = true
	r := p.Report
	r.TCPUnsolicited, r.P2PUDP, r.P2PTCP = unsolicited, udp, tcp
	r.Tests = []probe.Test{
		{Name: "tcp unsolicited", Proto: "tcp", To: ap("203.0.113.10:3478"), Answered: true,
			Note: "SYN from 203.0.113.11 to 203.0.113.1:40001: answered by a RST or an ICMP port unreachable (connection refused)"},
		{Name: "p2p tcp rendezvous", Proto: "tcp", To: ap("203.0.113.10:3478"), Answered: true, Mapped: ap("203.0.113.1:40002")},
		{Name: "p2p tcp peer", Proto: "tcp", To: ap("203.0.113.11:50000"), Error: "connect: connection refused"},
	}
	return p
}

func TestPunchChecks(t *testing.T) {
	yes, no := ptr(true), ptr(false)
	eim, apdm := probe.EndpointIndependent, probe.AddressAndPortDependent
	tests := []struct {
		name     string
		lan      *ProbeResult
		want     map[string]Verdict
		contains map[string]string // check ID -> text in summary or evidence
	}{
		{"masquerade, WAN input drops", punched(eim, probe.UnsolicitedDropped, yes, yes),
			map[string]Verdict{IDTCPUnsolicited: Pass, IDP2PUDP: Pass, IDP2PTCP: Pass},
			map[string]string{IDP2PTCP: "a direct session came up"}},
		{"WAN input rejects with tcp-reset", punched(eim, probe.UnsolicitedReset, yes, no),
			map[string]Verdict{IDTCPUnsolicited: Fail, IDP2PUDP: Pass, IDP2PTCP: Fail},
			map[string]string{IDTCPUnsolicited: "answered by a RST", IDP2PTCP: "RST to unsolicited SYN"}},
		{"ICMP", punched(eim, probe.UnsolicitedICMP, yes, no),
			map[string]Verdict{IDTCPUnsolicited: Fail, IDP2PTCP: Fail},
			map[string]string{IDP2PTCP: "ICMP error to unsolicited SYN"}},
		{"fully random", punched(apdm, probe.UnsolicitedDropped, no, no),
			map[string]Verdict{IDTCPUnsolicited: Pass, IDP2PUDP: Fail, IDP2PTCP: Fail},
			map[string]string{IDP2PUDP: "mapping varies (address-and-port-dependent udp mapping",
				IDP2PTCP: "p2p tcp peer 203.0.113.11:50000: connect: connection refused"}},
		{"endpoint-independent, still no session", punched(eim, probe.UnsolicitedDropped, no, no),
			map[string]Verdict{IDP2PUDP: Fail, IDP2PTCP: Fail},
			map[string]string{IDP2PUDP: "filtering: the peer's packets did not get in"}},
		{"coturn", punched(eim, probe.UnsolicitedUnknown, yes, nil),
			map[string]Verdict{IDTCPUnsolicited: Unknown, IDP2PUDP: Pass, IDP2PTCP: Unknown},
			map[string]string{IDTCPUnsolicited: "coturn does not", IDP2PTCP: "plays no punching peer"}},
		{"an older report", punched(eim, "", nil, nil),
			map[string]Verdict{IDTCPUnsolicited: Unknown, IDP2PUDP: Unknown, IDP2PTCP: Unknown}, nil},
		{"no probe", nil,
			map[string]Verdict{IDTCPUnsolicited: Unknown, IDP2PUDP: Unknown, IDP2PTCP: Unknown},
			map[string]string{IDP2PUDP: "needs a probe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input()
			in.Probe, in.Now = tt.lan, t0.Add(time.Minute)
			r := Build(in)
			for id, want := range tt.want {
				if c := r.Check(id); c.Verdict != want {
					t.Errorf("%s = %s (%s), want %s", id, c.Verdict, c.Summary, want)
				}
			}
			for id, text := range tt.contains {
				c := r.Check(id)
				if !strings.Contains(c.Summary+"\n"+strings.Join(c.Evidence, "\n"), text) {
					t.Errorf("%s: %q not in %q %q", id, text, c.Summary, c.Evidence)
				}
			}
		})
	}
}
