package metrics

import (
	"strings"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/report"
)

// Protos are the values of the proto label.
var Protos = []string{"udp", "tcp"}

func writeTable(p *page, r *report.Report, s *conntrackmap.Summary) {
	perProto(p.add("natp2p_mappings", gauge, "Live mappings: private endpoints behind a source NAT."), r.Mappings.UDP, r.Mappings.TCP)
	perProto(p.add("natp2p_flows", gauge, "Live source-NATed flows."), r.Flows.UDP, r.Flows.TCP)
	if s != nil {
		writeSummary(p, s)
	}
}

// writeSummary writes the table's counts, the evidence of the mapping
// checks as numbers.
func writeSummary(p *page, s *conntrackmap.Summary) {
	live := func(name, help string, get func(*conntrackmap.ProtoSummary) int) {
		perProto(p.add(name, gauge, help), get(&s.UDP), get(&s.TCP))
	}
	seen := func(name, help string, get func(*conntrackmap.ProtoSummary) uint64) {
		perProto(p.add(name, counter, help), get(&s.UDP), get(&s.TCP))
	}
	live("natp2p_mappings_preserved", "Live mappings whose public port is the private port (port.preservation).",
		func(ps *conntrackmap.ProtoSummary) int { return ps.Preserved })
	live("natp2p_mappings_inconsistent", "Live private endpoints behind two or more public endpoints at once (mapping.udp, mapping.tcp).",
		func(ps *conntrackmap.ProtoSummary) int { return ps.Inconsistent })
	live("natp2p_public_ports_shared", "Live public endpoints used by two or more private endpoints (port.overloading).",
		func(ps *conntrackmap.ProtoSummary) int { return ps.Overloaded })
	seen("natp2p_sessions_reused_total", "Flows that joined a live mapping and kept its public endpoint.",
		func(ps *conntrackmap.ProtoSummary) uint64 { return ps.SeenReused })
	seen("natp2p_sessions_remapped_total", "Flows that got a second public endpoint for a private endpoint (mapping.udp, mapping.tcp).",
		func(ps *conntrackmap.ProtoSummary) uint64 { return ps.SeenInconsistent })
	seen("natp2p_sessions_remapped_port_dependent_total", "Of the remapped flows, those to a remote address already in use: address-and-port-dependent mapping.",
		func(ps *conntrackmap.ProtoSummary) uint64 { return ps.SeenPortDependent })
	seen("natp2p_sessions_preservation_broke_total", "Of the remapped flows, those where port preservation was involved (port.preservation).",
		func(ps *conntrackmap.ProtoSummary) uint64 { return ps.SeenPreservationBroke })
	seen("natp2p_sessions_overloaded_total", "Flows that landed on another private endpoint's public endpoint (port.overloading).",
		func(ps *conntrackmap.ProtoSummary) uint64 { return ps.SeenOverloaded })
	p.add("natp2p_hosts", gauge, "Live private hosts with a mapping.").put(float64(s.Hosts))
	p.add("natp2p_hosts_unpaired", gauge, "Live hosts behind two or more public addresses at once (pool.paired).").put(float64(s.Unpaired))
	p.add("natp2p_sessions_unpaired_total", counter, "Flows that gave a host a second public address (pool.paired).").put(float64(s.SeenUnpaired))
	p.add("natp2p_public_addresses", gauge, "Distinct public addresses in use by mappings.").put(float64(s.PublicAddrs))
	p.add("natp2p_flows_ignored_total", counter, "Flows not modelled: not source-NATed, or neither UDP nor TCP.").put(float64(s.Ignored))
}

// perProto adds one sample per protocol.
func perProto[N int | uint64](f *family, udp, tcp N) {
	f.put(float64(udp), "proto", "udp")
	f.put(float64(tcp), "proto", "tcp")
}

// writeSource writes the conntrack source's counters and the timeouts in
// force.
func writeSource(p *page, r *report.Report) {
	if c := r.Conntrack; c != nil {
		p.add("natp2p_conntrack_events_total", counter, "Conntrack events applied to the table.").put(float64(c.Events))
		p.add("natp2p_conntrack_overflows_total", counter, "Times the kernel dropped conntrack events (ENOBUFS).").put(float64(c.Overflows))
		p.add("natp2p_conntrack_resyncs_total", counter, "Full conntrack dumps after the first, to resynchronise the table.").put(float64(c.Resyncs))
	}
	f := p.add("natp2p_conntrack_timeout_seconds", gauge,
		"A conntrack timeout in force, by its sysctl's short name (udp_timeout for net.netfilter.nf_conntrack_udp_timeout).")
	for _, name := range report.Sysctls() {
		if v, ok := r.Sysctls[name]; ok {
			f.put(float64(v), "sysctl", ShortSysctl(name))
		}
	}
}

// ShortSysctl is the sysctl label's value for a conntrack sysctl:
// its name without net.netfilter.nf_conntrack_.
func ShortSysctl(name string) string {
	return strings.TrimPrefix(name, "net.netfilter.nf_conntrack_")
}
