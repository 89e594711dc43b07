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

// runFamilies say whether and when the probes ran, in writeProbeRuns'
// order.
var runFamilies = [...]desc{
	{"natp2p_probe_success", gauge, "Whether the latest probe from a vantage point got its answers (1) or failed (0)."},
	{"natp2p_probe_last_success_timestamp_seconds", gauge, "When a probe from a vantage point last succeeded, in Unix seconds."},
	{"natp2p_probe_duration_seconds", gauge, "How long the latest successful probe from a vantage point took."},
	{"natp2p_probe_runs_total", counter, "Probes run from a vantage point since the daemon started."},
	{"natp2p_probe_failures_total", counter, "Probes from a vantage point that failed since the daemon started."},
}

// writeProbeRuns writes whether and when the probes ran.
func writeProbeRuns(p *page, vs []vantage) {
	var fs [len(runFamilies)]*family
	for i := range runFamilies {
		fs[i] = p.add(runFamilies[i])
	}
	for _, v := range vs {
		rep := v.res.Report
		fs[0].put(b2f(rep != nil), "vantage", v.name)
		switch {
		case v.stats != nil && !v.stats.LastSuccess.IsZero():
			fs[1].put(seconds(v.stats.LastSuccess), "vantage", v.name)
		case rep != nil:
			fs[1].put(seconds(rep.GeneratedAt), "vantage", v.name)
		}
		if rep != nil {
			fs[2].put(rep.Duration.Seconds(), "vantage", v.name)
		}
		if v.stats != nil {
			fs[3].put(float64(v.stats.Runs), "vantage", v.name)
			fs[4].put(float64(v.stats.Failures), "vantage", v.name)
		}
	}
}

// triFamilies are the probe's yes/no observations, in the order of
// writeProbeViews' values.
var triFamilies = [...]desc{
	{"natp2p_probe_hairpin", gauge, "Whether the probe reached its own public mapping from a second socket, as a state set (RFC 4787 REQ-9)."},
	{"natp2p_probe_port_preservation", gauge, "Whether the public port was the private port, as a state set."},
	{"natp2p_probe_alg", gauge, "Whether a NAT rewrote the address in the STUN payload, as a state set (RFC 4787 REQ-10)."},
	{"natp2p_probe_nat", gauge, "Whether the public address differed from the probe's own, as a state set."},
}

// writeProbeViews writes what each probe saw, as state sets: unknown
// throughout when it failed.
func writeProbeViews(p *page, vs []vantage) {
	mapping := p.add(desc{"natp2p_probe_mapping", gauge, "The mapping behaviour a probe saw per protocol, as a state set (RFC 4787 section 4.1)."})
	filtering := p.add(desc{"natp2p_probe_filtering", gauge, "The filtering behaviour a probe saw, as a state set (RFC 4787 section 5)."})
	var tri [len(triFamilies)]*family
	for i := range triFamilies {
		tri[i] = p.add(triFamilies[i])
	}
	for _, v := range vs {
		rep := v.res.Report
		if rep == nil {
			rep = &probe.Report{}
		}
		behaviours(mapping, filtering, "vantage", v.name, rep.Mapping, rep.TCPMapping, rep.Filtering)
		for i, b := range [...]*bool{rep.Hairpin, rep.PortPreservation, rep.ALG, rep.NAT} {
			tri[i].states("state", TriStates, triState(b), "vantage", v.name)
		}
	}
}

// behaviours adds the mapping per protocol and the filtering state sets
// of one vantage point or layer.
func behaviours(mapping, filtering *family, key, value string, udp, tcp, filter probe.Behaviour) {
	mapping.states("behaviour", Behaviours, behaviour(udp), key, value, "proto", "udp")
	mapping.states("behaviour", Behaviours, behaviour(tcp), key, value, "proto", "tcp")
	filtering.states("behaviour", Behaviours, behaviour(filter), key, value)
}

// writeLAN writes what only the LAN probe tells: its namespace, each NAT
// layer's behaviour and the UDP mapping's lifetime.
func writeLAN(p *page, lan *report.ProbeResult) {
	p.add(desc{"natp2p_probe_netns", gauge,
		"Whether the LAN probe ran from the LAN-side namespace, as a LAN host (1), or from the router's LAN address (0)."}).
		put(b2f(lan.Netns), "vantage", "lan")
	rep := lan.Report
	if rep == nil {
		return
	}
	mapping := p.add(desc{"natp2p_probe_layer_mapping", gauge,
		"The mapping behaviour of each NAT layer per protocol, as a state set: this router's or one upstream (needs the WAN probe)."})
	filtering := p.add(desc{"natp2p_probe_layer_filtering", gauge, "The filtering behaviour of each NAT layer, as a state set."})
	for i, name := range [...]string{probe.LayerRouter, probe.LayerUpstream} {
		var l probe.Layer
		for _, got := range rep.Layers {
			if got.Name == name {
				l = got
			}
		}
		behaviours(mapping, filtering, "layer", Layers[i], l.Mapping, l.TCPMapping, l.Filtering)
	}
	if lt := rep.Lifetime; lt != nil {
		f := p.add(desc{"natp2p_probe_udp_lifetime_seconds", gauge,
			"Bounds of an idle UDP mapping's lifetime the LAN probe measured (RFC 5780 section 4.6); no max when it outlived the test."})
		f.put(lt.Min.Seconds(), "bound", "min")
		if lt.Max > 0 {
			f.put(lt.Max.Seconds(), "bound", "max")
		}
	}
}

// behaviour maps an empty or unexpected behaviour to unknown, so that a
// state set always has exactly one state at 1.
func behaviour(b probe.Behaviour) string {
	return oneOf(string(b), Behaviours, string(probe.Unknown))
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
