package metrics

import (
	"strings"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/report"
)

// Protos are the values of the proto label.
var Protos = []string{"udp", "tcp"}

// protoFamilies are the table's families per protocol, in the order of
// protoValues.
var protoFamilies = [...]desc{
	{"natp2p_mappings_preserved", gauge, "Live mappings whose public port is the private port (port.preservation)."},
	{"natp2p_mappings_inconsistent", gauge, "Live private endpoints behind two or more public endpoints at once (mapping.udp, mapping.tcp)."},
	{"natp2p_public_ports_shared", gauge, "Live public endpoints used by two or more private endpoints (port.overloading)."},
	{"natp2p_sessions_reused_total", counter, "Flows that joined a live mapping and kept its public endpoint."},
	{"natp2p_sessions_remapped_total", counter, "Flows that got a second public endpoint for a private endpoint (mapping.udp, mapping.tcp)."},
	{"natp2p_sessions_remapped_port_dependent_total", counter, "Of the remapped flows, those to a remote address already in use: address-and-port-dependent mapping."},
	{"natp2p_sessions_preservation_broke_total", counter, "Of the remapped flows, those where port preservation was involved (port.preservation)."},
	{"natp2p_sessions_overloaded_total", counter, "Flows that landed on another private endpoint's public endpoint (port.overloading)."},
}

// protoValues are one protocol's figures for protoFamilies.
func protoValues(ps *conntrackmap.ProtoSummary) [len(protoFamilies)]float64 {
	return [...]float64{float64(ps.Preserved), float64(ps.Inconsistent), float64(ps.Overloaded), float64(ps.SeenReused),
		float64(ps.SeenInconsistent), float64(ps.SeenPortDependent), float64(ps.SeenPreservationBroke), float64(ps.SeenOverloaded)}
}

// hostFamilies are the table's other families, in the order of
// writeSummary's values.
var hostFamilies = [...]desc{
	{"natp2p_hosts", gauge, "Live private hosts with a mapping."},
	{"natp2p_hosts_unpaired", gauge, "Live hosts behind two or more public addresses at once (pool.paired)."},
	{"natp2p_sessions_unpaired_total", counter, "Flows that gave a host a second public address (pool.paired)."},
	{"natp2p_public_addresses", gauge, "Distinct public addresses in use by mappings."},
	{"natp2p_flows_ignored_total", counter, "Flows not modelled: not source-NATed, or neither UDP nor TCP."},
}

func writeTable(p *page, r *report.Report, s *conntrackmap.Summary) {
	perProto(p.add(desc{"natp2p_mappings", gauge, "Live mappings: private endpoints behind a source NAT."}),
		float64(r.Mappings.UDP), float64(r.Mappings.TCP))
	perProto(p.add(desc{"natp2p_flows", gauge, "Live source-NATed flows."}), float64(r.Flows.UDP), float64(r.Flows.TCP))
	if s != nil {
		writeSummary(p, s)
	}
}

// writeSummary writes the table's counts, the evidence of the mapping
// checks as numbers.
func writeSummary(p *page, s *conntrackmap.Summary) {
	udp, tcp := protoValues(&s.UDP), protoValues(&s.TCP)
	for i := range protoFamilies {
		perProto(p.add(protoFamilies[i]), udp[i], tcp[i])
	}
	values := [len(hostFamilies)]float64{float64(s.Hosts), float64(s.Unpaired), float64(s.SeenUnpaired),
		float64(s.PublicAddrs), float64(s.Ignored)}
	for i := range hostFamilies {
		p.add(hostFamilies[i]).put(values[i])
	}
}

// perProto adds one sample per protocol.
func perProto(f *family, udp, tcp float64) {
	f.put(udp, "proto", "udp")
	f.put(tcp, "proto", "tcp")
}

// sourceFamilies are the conntrack source's counters.
var sourceFamilies = [...]desc{
	{"natp2p_conntrack_events_total", counter, "Conntrack events applied to the table."},
	{"natp2p_conntrack_overflows_total", counter, "Times the kernel dropped conntrack events (ENOBUFS)."},
	{"natp2p_conntrack_resyncs_total", counter, "Full conntrack dumps after the first, to resynchronise the table."},
}

// writeSource writes the conntrack source's counters and the timeouts in
// force.
func writeSource(p *page, r *report.Report) {
	if c := r.Conntrack; c != nil {
		for i, v := range [...]uint64{c.Events, c.Overflows, c.Resyncs} {
			p.add(sourceFamilies[i]).put(float64(v))
		}
	}
	f := p.add(desc{"natp2p_conntrack_timeout_seconds", gauge,
		"A conntrack timeout in force, by its sysctl's short name (udp_timeout for net.netfilter.nf_conntrack_udp_timeout)."})
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
