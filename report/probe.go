package report

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natp2p/natp2p/probe"
)

// ProbeResult is the daemon's latest probe from one vantage point.
type ProbeResult struct {
	Vantage string        `json:"vantage"` // "lan": through this router's NAT; "wan": upstream only
	From    netip.Addr    `json:"from"`
	Report  *probe.Report `json:"report,omitempty"`
	Error   string        `json:"error,omitempty"`
	// Netns says that the LAN probe ran from a network namespace on the LAN
	// bridge, From being its address: its packets took a LAN host's path,
	// hairpinning included. False: it ran from the router's LAN address.
	Netns bool `json:"netns,omitempty"`
	// NetnsError says why a LAN probe ran from the router's LAN address
	// although it would have used a namespace (veth missing, LAN interface
	// not a bridge, ...).
	NetnsError string `json:"netns_error,omitempty"`
}

// Probes is the report's "probe" object.
type Probes struct {
	LAN *ProbeResult `json:"lan,omitempty"`
	WAN *ProbeResult `json:"wan,omitempty"`
}

// ok returns the probe's report when it ran.
func (p *ProbeResult) ok() *probe.Report {
	if p == nil {
		return nil
	}
	return p.Report
}

// describe names a probe for evidence: where from, against what, how old.
func describe(p *ProbeResult, now time.Time) string {
	from := p.From.String()
	if p.Netns {
		from += " (LAN-side namespace)"
	}
	return fmt.Sprintf("probe from %s via %s, %s ago", from, p.Report.Introducer,
		now.Sub(p.Report.GeneratedAt).Round(time.Second))
}

// withProbe adds the LAN probe's view to a mapping check, and attributes a
// failure it finds to this router or to the NAT upstream (the WAN probe).
func withProbe(c Check, proto string, in *Input) Check {
	lan := in.Probe.ok()
	if lan == nil {
		return c
	}
	got := lan.Mapping
	if proto == "tcp" {
		got = lan.TCPMapping
	}
	if got == probe.Unknown {
		return c
	}
	line := fmt.Sprintf("%s: %s %s mapping", describe(in.Probe, in.Now), got, proto)
	if got != probe.EndpointIndependent {
		line += " (" + layer(proto, in) + ")"
	}
	switch {
	case got != probe.EndpointIndependent && c.Verdict != Fail:
		c.Verdict, c.Summary = Fail, fmt.Sprintf("%s mapping seen by the probe (%s)", got, layer(proto, in))
		if e := in.Enforcement; e != nil && e.Mapping && e.RandomNAT {
			// The probe sends to a second server at once: faster than
			// the iptables backend's pins under a fully-random NAT.
			c.Summary += fmt.Sprintf("; the %s backend pins too late for it under this fully-random NAT: set preserve_ports", e.Backend)
		}
	case got == probe.EndpointIndependent && c.Verdict == Fail:
		line += ": disagrees with conntrack, which saw the flows above"
	case got == probe.EndpointIndependent && c.Verdict == Unknown:
		c.Verdict, c.Summary = Pass, "endpoint-independent, as the probe saw (no flows to judge by yet)"
	}
	c.Evidence = limit(append([]string{line}, c.Evidence...))
	return c
}

// layer says which NAT a non-independent mapping comes from, as the LAN
// probe's layers (probe.Attribute) tell.
func layer(proto string, in *Input) string {
	switch in.Probe.ok().Culprit(proto == "tcp") {
	case probe.LayerUpstream:
		return "upstream NAT"
	case probe.LayerRouter:
		return "this router"
	}
	return "this router or upstream: no WAN-side probe"
}

// upstreamNAT reports whether the WAN probe's public address differs from
// the address it sent from.
func upstreamNAT(wan *ProbeResult) bool {
	return wan.ok() != nil && wan.Report.Public.IsValid() && wan.Report.Public.Addr() != wan.From
}

func filteringCheck(in *Input) Check {
	r := in.Probe.ok()
	if r == nil {
		return probeMissing(IDFiltering, "inbound filtering", in.Probe)
	}
	ev := []string{fmt.Sprintf("%s: %s filtering", describe(in.Probe, in.Now), r.Filtering)}
	switch r.Filtering {
	case probe.AddressAndPortDependent, probe.AddressDependent:
		return check(IDFiltering, Pass, ev, "%s filtering: unsolicited inbound stays out (draft section 4)", r.Filtering)
	case probe.EndpointIndependent:
		return check(IDFiltering, Warn, ev, "endpoint-independent filtering: anyone who learns a mapping can send in")
	}
	return check(IDFiltering, Unknown, ev, "the probe could not tell the filtering behaviour")
}

// upstreamFromProbe judges upstream NAT by the WAN-side probe: the
// introducer sees the WAN address unless a NAT lies beyond it.
func upstreamFromProbe(c Check, in *Input) Check {
	r := in.UpstreamProbe.ok()
	if r == nil || !r.Public.IsValid() {
		return c
	}
	ev := fmt.Sprintf("%s: seen as %s", describe(in.UpstreamProbe, in.Now), r.Public.Addr())
	if upstreamNAT(in.UpstreamProbe) {
		return check(IDUpstreamNAT, Warn, []string{ev},
			"NAT upstream: the introducer sees %s, not the WAN address %s (%s mapping there)",
			r.Public.Addr(), in.UpstreamProbe.From, r.Mapping)
	}
	return check(IDUpstreamNAT, Pass, []string{ev}, "no NAT upstream: the introducer sees the WAN address %s", r.Public.Addr())
}

// hairpinCheck judges hairpinning by the LAN probe, when it ran from the
// LAN-side namespace: the router's own packets never enter through the LAN
// interface, so from its LAN address hairpinning cannot be measured.
func hairpinCheck(in *Input) Check {
	p := in.Probe
	r := p.ok()
	switch {
	case r == nil:
		return probeMissing(IDHairpin, "LAN-to-LAN through public mappings", p)
	case !p.Netns:
		why := "the router's own probe cannot hairpin as a LAN host does"
		if p.NetnsError != "" {
			why = "no LAN-side namespace: " + p.NetnsError
		}
		return check(IDHairpin, Unknown, nil, "not measured: %s; run natp2p-agent probe on a LAN host", why)
	case r.Hairpin == nil:
		return check(IDHairpin, Unknown, []string{describe(p, in.Now) + ": hairpin not tested"},
			"not measured: the probe could not test hairpinning")
	case !*r.Hairpin && upstreamNAT(in.UpstreamProbe):
		// The public mapping is the upstream NAT's: it, not necessarily
		// this router, failed to turn the packet around.
		return check(IDHairpin, Warn, []string{fmt.Sprintf("%s: nothing came back through %s, the upstream NAT's address",
			describe(p, in.Now), r.Public)}, "no hairpin through the upstream NAT's public mapping (double NAT); "+
			"whether this router hairpins cannot be measured from behind it")
	case !*r.Hairpin:
		return check(IDHairpin, Fail, []string{fmt.Sprintf("%s: nothing came back through %s", describe(p, in.Now), r.Public)},
			"a LAN host cannot reach another's public mapping (RFC 4787 REQ-9, draft section 2.3.2)")
	}
	ev := []string{describe(p, in.Now) + ": hairpinned"}
	from := hairpinSource(r)
	if !from.IsValid() || publicAddrs(in)[from.Addr()] {
		return check(IDHairpin, Pass, ev,
			"LAN hosts reach each other's public mappings and see public sources (RFC 4787 REQ-9)")
	}
	ev[0] += fmt.Sprintf(", but it arrived from %s", from)
	if a := from.Addr(); a == p.From || lanAddr(in, a) || !a.IsGlobalUnicast() || a.IsPrivate() || cgnat.Contains(a) {
		return check(IDHairpin, Fail, ev,
			"hairpins, but the receiver sees the private %s as the source, not the sender's public mapping (RFC 4787 REQ-9a)", a)
	}
	return check(IDHairpin, Warn, ev,
		"hairpins, but the receiver sees %s as the source, none of the public addresses the probes saw (RFC 4787 REQ-9a)", from.Addr())
}

// publicAddrs are the public addresses the probes saw, as the
// introducer saw them: the LAN probe's mappings (a NAT with an address
// pool may hairpin from another of its addresses than the first
// mapping's) and the WAN probe's. Not the WAN address itself: behind an
// upstream NAT a LAN host's peers know it by the upstream mapping only.
func publicAddrs(in *Input) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, p := range []*ProbeResult{in.Probe, in.UpstreamProbe} {
		if r := p.ok(); r != nil {
			m[r.Public.Addr()] = true
			for _, t := range r.Tests {
				if t.Name != "hairpin" && t.Mapped.IsValid() {
					m[t.Mapped.Addr()] = true
				}
			}
		}
	}
	return m
}

// lanAddr reports whether a is one of the router's LAN addresses.
func lanAddr(in *Input, a netip.Addr) bool {
	for _, l := range in.LAN {
		for _, b := range l.Addrs {
			if a == b {
				return true
			}
		}
	}
	return false
}

// hairpinSource is where the hairpinned request arrived from.
func hairpinSource(r *probe.Report) netip.AddrPort {
	for _, t := range r.Tests {
		if t.Name == "hairpin" && t.Answered {
			return t.From
		}
	}
	return netip.AddrPort{}
}

// probeMissing explains why a probe-only check has no verdict.
func probeMissing(id, what string, p *ProbeResult) Check {
	if p != nil && p.Error != "" {
		from := "probe"
		if p.From.IsValid() {
			from = "probe from " + p.From.String()
		}
		return check(id, Unknown, []string{from + ": " + p.Error}, "not measured: the probe failed")
	}
	return check(id, Unknown, nil, "not measured: %s needs a probe (run with --introducer)", what)
}
