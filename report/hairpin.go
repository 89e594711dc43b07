package report

import (
	"fmt"
	"strings"

	"github.com/natp2p/natp2p/conntrackmap"
)

// enforcedHairpin judges hairpinning under natp2p's hairpin rules by what
// showed it working or broken, never by the rules alone: conntrack's
// hairpinned flows (the source their receiver saw, whether it answered)
// and the LAN-side namespace probe. Evidence against the rules fails;
// rules that nothing has shown working yet are UNKNOWN (docs/report.md,
// "The evidence behind each enforce-mode verdict").
func enforcedHairpin(e *Enforcement, in *Input) Check {
	if why := e.broken(); why != "" {
		return check(IDHairpin, Fail, nil, "%s", why)
	}
	hs := &in.Table.Hairpin
	probed := hairpinCheck(in) // the namespace probe's view, as in observe mode
	switch {
	case hs.Private > 0 || (hs.SeenPrivate > 0 && hs.SeenWorking == 0):
		return privateSource(in)
	case probed.Verdict == Fail:
		return probeFailed(probed, e, in)
	}
	if c, ok := fromFlows(e, in, probed); ok {
		return c
	}
	if probed.Verdict == Pass || probed.Verdict == Warn {
		if probed.Verdict == Pass {
			probed.Summary = "enforced, and seen working by the LAN-side probe: " + probed.Summary
		}
		probed.Evidence = limit(append(probed.Evidence, e.rulesLine()))
		return probed
	}
	why := "no LAN-side probe: no introducer configured (--introducer)"
	if in.Probe != nil {
		why = "the LAN-side probe: " + strings.TrimPrefix(probed.Summary, "not measured: ")
	}
	return check(IDHairpin, Unknown, limit(append([]string{e.rulesLine()}, probed.Evidence...)),
		"natp2p's hairpin rules are in place but not yet seen working: no hairpinned flow in conntrack yet; %s", why)
}

// fromFlows judges by the hairpinned flows conntrack showed, when there
// were any a receiver saw with a public source.
func fromFlows(e *Enforcement, in *Input, probed Check) (Check, bool) {
	hs := &in.Table.Hairpin
	var working, other, translated []conntrackmap.HairpinFlow
	for _, h := range in.Table.Hairpins {
		switch {
		case h.Working():
			working = append(working, h)
		case h.Live && h.Seen == conntrackmap.SourceOtherPublic:
			other = append(other, h)
		case h.Seen == conntrackmap.SourceMapping:
			translated = append(translated, h)
		}
	}
	switch {
	case len(other) > 0:
		return check(IDHairpin, Warn, hairpinLines(other, in), "hairpins, but %s reached LAN hosts from "+
			"another public endpoint than the sender's mapping (RFC 4787 REQ-9a)", plural(len(other), "live flow")), true
	case hs.SeenWorking > 0:
		ev := hairpinLines(working[:min(1, len(working))], in)
		if probed.Verdict == Pass {
			ev = append(ev, probed.Evidence...)
		}
		return check(IDHairpin, Pass, limit(append(ev, e.rulesLine())), "enforced, and seen working: %s from "+
			"the sender's public endpoint answered (RFC 4787 REQ-9, REQ-9a)", plural(hs.SeenWorking, "hairpinned flow")), true
	case hs.SeenFlows > 0 && probed.Verdict != Pass:
		return check(IDHairpin, Warn, limit(append(hairpinLines(translated, in), e.rulesLine())),
			"hairpinned flows reach LAN hosts from the sender's public endpoint, but none got a reply yet: "+
				"delivery not shown (a filter after the NAT, or receivers that do not answer)"), true
	}
	return Check{}, false
}

// privateSource fails hairpinning for the flows whose receiver saw a
// private source, and names the cause when it can be told.
func privateSource(in *Input) Check {
	var flows []conntrackmap.HairpinFlow
	for _, h := range in.Table.Hairpins {
		if h.Seen == conntrackmap.SourcePrivate {
			flows = append(flows, h)
		}
	}
	ev := hairpinLines(flows[:min(2, len(flows))], in)
	hs := &in.Table.Hairpin
	summary := fmt.Sprintf("%s reached LAN hosts from a private source, not the sender's public endpoint "+
		"(RFC 4787 REQ-9a; %d live)", plural(hs.SeenPrivate, "hairpinned flow"), hs.Private)
	switch {
	case in.BridgeNFCallIptables != nil && *in.BridgeNFCallIptables == 1:
		ev = append(ev, "net.bridge.bridge-nf-call-iptables = 1 (br_netfilter loaded): hairpinned packets pass "+
			"the ip hooks as bridged traffic")
		summary += ": bridge netfilter is on, and natp2p's hairpin SNAT did not match the bridged packets"
	case len(flows) > 0 && flows[0].Source != flows[0].Sender && lanAddr(in, flows[0].Source.Addr()):
		summary += fmt.Sprintf(": they arrived from the router's LAN address %s, a masquerade on the LAN side "+
			"(NAT reflection) translated them, not natp2p's hairpin rules", flows[0].Source.Addr())
	default:
		summary += ": natp2p's hairpin SNAT did not apply to them (bridge netfilter is off or not loaded)"
	}
	return check(IDHairpin, Fail, limit(ev), "%s", summary)
}

// probeFailed fails hairpinning by the namespace probe and, when nothing
// came back, tells from conntrack where the packet was lost: a packet the
// forward chain drops never gets a conntrack entry (the kernel confirms
// one only after the forward hook), one dropped later has an unanswered
// one.
func probeFailed(probed Check, e *Enforcement, in *Input) Check {
	p, r := in.Probe, in.Probe.ok()
	if r.Hairpin == nil || *r.Hairpin {
		if in.BridgeNFCallIptables != nil && *in.BridgeNFCallIptables == 1 {
			probed.Summary += ": bridge netfilter is on (net.bridge.bridge-nf-call-iptables = 1)"
		}
		probed.Evidence = limit(append(probed.Evidence, e.rulesLine()))
		return probed
	}
	for _, h := range in.Table.Hairpins {
		if h.Sender.Addr() == p.From && h.Public == r.Public {
			ev := append(probed.Evidence, "conntrack: "+hairpinLine(h, in), e.rulesLine())
			return check(IDHairpin, Fail, limit(ev), "natp2p's hairpin rules are in place and translated the "+
				"LAN-side probe's hairpinned packet, but nothing came back: it was lost after the NAT")
		}
	}
	ev := append(probed.Evidence, fmt.Sprintf("conntrack: no hairpinned flow from %s to %s: dropped before "+
		"the NAT's last hook", p.From, r.Public), e.rulesLine())
	return check(IDHairpin, Fail, limit(ev), "natp2p's hairpin rules are in place, but the LAN-side probe's "+
		"hairpinned packet never came back and conntrack has no entry for it: the router dropped it before "+
		"translating it, as a forward rule that drops LAN-to-LAN traffic does (does the firewall forward lan to lan?)")
}

// hairpinLines writes up to MaxEvidence hairpinned flows.
func hairpinLines(flows []conntrackmap.HairpinFlow, in *Input) []string {
	out := []string{}
	for _, h := range flows[:min(MaxEvidence, len(flows))] {
		out = append(out, hairpinLine(h, in))
	}
	return out
}

// hairpinLine writes one hairpinned flow: who sent to which public
// endpoint, where it went, the source the receiver saw, and whether it
// answered.
func hairpinLine(h conntrackmap.HairpinFlow, in *Input) string {
	var src string
	switch {
	case h.Source == h.Sender:
		src = "the sender's private address"
	case h.Seen == conntrackmap.SourceMapping:
		src = "the sender's public endpoint"
	case h.Seen == conntrackmap.SourceOtherPublic:
		src = "not the sender's public endpoint"
	case lanAddr(in, h.Source.Addr()):
		src = "the router's LAN address"
	default:
		src = "a private source"
	}
	state := "answered"
	switch {
	case !h.Replied && h.Live:
		state = "no reply yet"
	case !h.Replied:
		state = "ended without a reply"
	}
	return fmt.Sprintf("%s -> %s/%s reached %s from %s (%s), %s", h.Sender, h.Public, h.Proto, h.Target, h.Source, src, state)
}
