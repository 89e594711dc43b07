package metrics

import (
	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

// Behaviours are the states of the probe's mapping and filtering state
// sets, in RFC 4787's terms.
var Behaviours = []string{string(probe.EndpointIndependent), string(probe.AddressDependent),
	string(probe.AddressAndPortDependent), string(probe.Unknown)}

// TriStates are the states of the probe's yes/no observations: unknown
// when the test could not run.
var TriStates = []string{"true", "false", "unknown"}

// Layers are the values of the layer label: this router's NAT, or one
// upstream of it.
var Layers = []string{"router", "upstream"}

// vantage is one probe result with its name and counters.
type vantage struct {
	name  string
	res   *report.ProbeResult
	stats *ProbeStats
}

func writeProbes(p *page, r *report.Report, c *ProbeCounters) {
	if r.Probe == nil {
		return
	}
	if c == nil {
		c = &ProbeCounters{}
	}
	var vs []vantage
	for _, v := range []vantage{{"lan", r.Probe.LAN, c.LAN}, {"wan", r.Probe.WAN, c.WAN}} {
		if v.res != nil {
			vs = append(vs, v)
		}
	}
	writeProbeRuns(p, vs)
	writeProbeViews(p, vs)
	if r.Probe.LAN != nil {
		writeLAN(p, r.Probe.LAN)
	}
}

// writeProbeRuns writes whether and when the probes ran.
func writeProbeRuns(p *page, vs []vantage) {
	ok := p.add("natp2p_probe_success", gauge, "Whether the latest probe from a vantage point got its answers (1) or failed (0).")
	last := p.add("natp2p_probe_last_success_timestamp_seconds", gauge, "When a probe from a vantage point last succeeded, in Unix seconds.")
	took := p.add("natp2p_probe_duration_seconds", gauge, "How long the latest successful probe from a vantage point took.")
	runs := p.add("natp2p_probe_runs_total", counter, "Probes run from a vantage point since the daemon started.")
	fails := p.add("natp2p_probe_failures_total", counter, "Probes from a vantage point that failed since the daemon started.")
	for _, v := range vs {
		rep := v.res.Report
		ok.put(b2f(rep != nil), "vantage", v.name)
		switch {
		case v.stats != nil && !v.stats.LastSuccess.IsZero():
			last.put(seconds(v.stats.LastSuccess), "vantage", v.name)
		case rep != nil:
			last.put(seconds(rep.GeneratedAt), "vantage", v.name)
		}
		if rep != nil {
			took.put(rep.Duration.Seconds(), "vantage", v.name)
		}
		if v.stats != nil {
			runs.put(float64(v.stats.Runs), "vantage", v.name)
			fails.put(float64(v.stats.Failures), "vantage", v.name)
		}
	}
}

// writeProbeViews writes what each probe saw, as state sets: unknown
// throughout when it failed.
func writeProbeViews(p *page, vs []vantage) {
	mapping := p.add("natp2p_probe_mapping", gauge, "The mapping behaviour a probe saw per protocol, as a state set (RFC 4787 section 4.1).")
	filtering := p.add("natp2p_probe_filtering", gauge, "The filtering behaviour a probe saw, as a state set (RFC 4787 section 5).")
	tri := []struct {
		f   *family
		get func(*probe.Report) *bool
	}{
		{p.add("natp2p_probe_hairpin", gauge, "Whether the probe reached its own public mapping from a second socket, as a state set (RFC 4787 REQ-9)."),
			func(r *probe.Report) *bool { return r.Hairpin }},
		{p.add("natp2p_probe_port_preservation", gauge, "Whether the public port was the private port, as a state set."),
			func(r *probe.Report) *bool { return r.PortPreservation }},
		{p.add("natp2p_probe_alg", gauge, "Whether a NAT rewrote the address in the STUN payload, as a state set (RFC 4787 REQ-10)."),
			func(r *probe.Report) *bool { return r.ALG }},
		{p.add("natp2p_probe_nat", gauge, "Whether the public address differed from the probe's own, as a state set."),
			func(r *probe.Report) *bool { return r.NAT }},
	}
	for _, v := range vs {
		rep := v.res.Report
		if rep == nil {
			rep = &probe.Report{Mapping: probe.Unknown, TCPMapping: probe.Unknown, Filtering: probe.Unknown}
		}
		mapping.states("behaviour", Behaviours, behaviour(rep.Mapping), "vantage", v.name, "proto", "udp")
		mapping.states("behaviour", Behaviours, behaviour(rep.TCPMapping), "vantage", v.name, "proto", "tcp")
		filtering.states("behaviour", Behaviours, behaviour(rep.Filtering), "vantage", v.name)
		for _, t := range tri {
			t.f.states("state", TriStates, triState(t.get(rep)), "vantage", v.name)
		}
	}
}

// writeLAN writes what only the LAN probe tells: its namespace, each NAT
// layer's behaviour and the UDP mapping's lifetime.
func writeLAN(p *page, lan *report.ProbeResult) {
	p.add("natp2p_probe_netns", gauge,
		"Whether the LAN probe ran from the LAN-side namespace, as a LAN host (1), or from the router's LAN address (0).").
		put(b2f(lan.Netns), "vantage", "lan")
	rep := lan.Report
	if rep == nil {
		return
	}
	mapping := p.add("natp2p_probe_layer_mapping", gauge,
		"The mapping behaviour of each NAT layer per protocol, as a state set: this router's or one upstream (needs the WAN probe).")
	filtering := p.add("natp2p_probe_layer_filtering", gauge, "The filtering behaviour of each NAT layer, as a state set.")
	for i, name := range []string{probe.LayerRouter, probe.LayerUpstream} {
		l := probe.Layer{Mapping: probe.Unknown, TCPMapping: probe.Unknown, Filtering: probe.Unknown}
		for _, got := range rep.Layers {
			if got.Name == name {
				l = got
			}
		}
		mapping.states("behaviour", Behaviours, behaviour(l.Mapping), "layer", Layers[i], "proto", "udp")
		mapping.states("behaviour", Behaviours, behaviour(l.TCPMapping), "layer", Layers[i], "proto", "tcp")
		filtering.states("behaviour", Behaviours, behaviour(l.Filtering), "layer", Layers[i])
	}
	if lt := rep.Lifetime; lt != nil {
		f := p.add("natp2p_probe_udp_lifetime_seconds", gauge,
			"Bounds of an idle UDP mapping's lifetime the LAN probe measured (RFC 5780 section 4.6); no max when it outlived the test.")
		f.put(lt.Min.Seconds(), "bound", "min")
		if lt.Max > 0 {
			f.put(lt.Max.Seconds(), "bound", "max")
		}
	}
}

// behaviour maps an empty or unexpected behaviour to unknown, so that a
// state set always has exactly one state at 1.
func behaviour(b probe.Behaviour) string {
	for _, s := range Behaviours {
		if string(b) == s {
			return s
		}
	}
	return string(probe.Unknown)
}

func triState(b *bool) string {
	switch {
	case b == nil:
		return "unknown"
	case *b:
		return "true"
	}
	return "false"
}
