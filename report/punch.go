package report

import (
	"fmt"

	"github.com/natp2p/natp2p/probe"
)

// The hole-punching checks' IDs.
const (
	IDP2PUDP = "p2p.udp"
	IDP2PTCP = "p2p.tcp"
)

// unsolicitedCheck judges the answer to an unsolicited SYN by the LAN
// probe: the introducer sent one from its alternate address to the public
// endpoint of the probe's TCP connection. A RST or an ICMP error kills a
// peer's SYN in a TCP hole punch (RFC 5382 REQ-4, draft section 2.5).
func unsolicitedCheck(in *Input) Check {
	r := in.Probe.ok()
	if r == nil {
		return probeMissing(IDTCPUnsolicited, "the answer to an unsolicited SYN", in.Probe)
	}
	t, _ := testNamed(r, "tcp unsolicited")
	ev := []string{fmt.Sprintf("%s: %s", describe(in.Probe, in.Now), testLine(t))}
	switch r.TCPUnsolicited {
	case probe.UnsolicitedDropped:
		return check(IDTCPUnsolicited, Pass, ev, "unsolicited SYNs to a live mapping are silently dropped: TCP hole punching can work (RFC 5382 REQ-4)")
	case probe.UnsolicitedReset:
		return check(IDTCPUnsolicited, Fail, ev, "unsolicited SYNs are answered with a RST (or an ICMP port unreachable), which kills a peer's SYN in a TCP hole punch "+
			"(RFC 5382 REQ-4: drop them; on OpenWrt, the WAN zone's input reject)")
	case probe.UnsolicitedICMP:
		return check(IDTCPUnsolicited, Fail, ev, "unsolicited SYNs are answered with an ICMP error, which kills a peer's SYN in a TCP hole punch "+
			"(RFC 5382 REQ-4: drop them)")
	case probe.UnsolicitedAccepted:
		return check(IDTCPUnsolicited, Warn, ev, "an unsolicited SYN to a live mapping was accepted: something takes inbound connections on it")
	}
	return check(IDTCPUnsolicited, Unknown, ev, "not measured: the introducer %s did not say (natp2p-introducer sends the SYN; coturn does not)", r.Introducer)
}

// punchCheck judges hole punching, UDP or TCP, by the LAN probe, and
// names the cause when no direct session came up.
func punchCheck(id string, in *Input) Check {
	r := in.Probe.ok()
	if r == nil {
		return probeMissing(id, "hole punching", in.Probe)
	}
	tcp := id == IDP2PTCP
	got, name := r.P2PUDP, "p2p udp"
	if tcp {
		got, name = r.P2PTCP, "p2p tcp"
	}
	ev := []string{describe(in.Probe, in.Now)}
	for _, suffix := range []string{" rendezvous", " peer"} {
		if t, ok := testNamed(r, name+suffix); ok {
			ev = append(ev, testLine(t))
		}
	}
	switch {
	case got == nil && tcp:
		return check(id, Unknown, limit(ev), "not tried: the introducer %s plays no punching peer (natp2p-introducer with two addresses does)", r.Introducer)
	case got == nil:
		return check(id, Unknown, limit(ev), "not tried: the introducer %s has no other address to play the peer (RFC 5780 OTHER-ADDRESS)", r.Introducer)
	case *got:
		return check(id, Pass, limit(ev), "a direct session came up by hole punching with a peer behind an endpoint-independent NAT")
	}
	return check(id, Fail, limit(ev), "no direct session by hole punching with a peer behind an endpoint-independent NAT: %s", punchCause(r, tcp, in))
}

// punchCause names why hole punching failed, from the probe's other
// measurements.
func punchCause(r *probe.Report, tcp bool, in *Input) string {
	mapping, proto := r.Mapping, "udp"
	if tcp {
		mapping, proto = r.TCPMapping, "tcp"
	}
	switch {
	case mapping != probe.EndpointIndependent && mapping != probe.Unknown:
		return fmt.Sprintf("mapping varies (%s %s mapping, %s): the peer sees another public endpoint than the one it learned",
			mapping, proto, layer(proto, in))
	case tcp && r.TCPUnsolicited == probe.UnsolicitedReset:
		return "RST to unsolicited SYN: the peer's SYN, sent before this side's, was refused"
	case tcp && r.TCPUnsolicited == probe.UnsolicitedICMP:
		return "ICMP error to unsolicited SYN: the peer's SYN, sent before this side's, was refused"
	}
	return fmt.Sprintf("filtering: the peer's packets did not get in (%s filtering)", r.Filtering)
}

// testNamed finds a probe test by name.
func testNamed(r *probe.Report, name string) (probe.Test, bool) {
	for _, t := range r.Tests {
		if t.Name == name {
			return t, true
		}
	}
	return probe.Test{Name: name}, false
}

// testLine writes one exchange of the probe as evidence.
func testLine(t probe.Test) string {
	s := fmt.Sprintf("%s %s: ", t.Name, t.To)
	switch {
	case t.Note != "":
		s += t.Note
	case t.Error != "":
		s += t.Error
	case t.Answered:
		s += "seen as " + t.Mapped.String()
	default:
		s += "no answer"
	}
	return s
}
