package metrics

import (
	"github.com/natp2p/natp2p/report"
)

// Modes are natp2p_enforce_mode's states.
var Modes = []string{"observe", "enforce"}

// Features are the values of natp2p_enforce_feature's feature label: the
// enforcement switches.
var Features = []string{"mapping", "hairpin", "timeouts", "preserve_ports"}

// enforceFamilies are the enforcement's one-sample families, in the order
// of enforceValues.
var enforceFamilies = [...]desc{
	{"natp2p_enforce_installed", gauge, "Whether natp2p's rules were in place at the last check."},
	{"natp2p_enforce_random_nat", gauge, "Whether the router's NAT picks ports fully at random and the backend pins too late for a second destination sent at once."},
	{"natp2p_enforce_pins", gauge, "Pins held now: private endpoints with a fixed public endpoint."},
	{"natp2p_enforce_pinned_total", counter, "Pins made from flows."},
	{"natp2p_enforce_adopted_total", counter, "Pins found in the kernel at start and kept."},
	{"natp2p_enforce_removed_total", counter, "Pins dropped: idle past the grace period, or their address left the WAN."},
	{"natp2p_enforce_moved_total", counter, "Endpoints moved off another endpoint's pinned port (RFC 4787 REQ-3)."},
	{"natp2p_enforce_repaired_total", counter, "New flows that missed their pin and were translated again."},
	{"natp2p_enforce_quota_hits_total", counter, "Flows left unpinned because their host held its quota of pins."},
	{"natp2p_enforce_no_port_total", counter, "Endpoints that needed a free public port and found none."},
	{"natp2p_enforce_disagreeing", gauge, "Pinned endpoints with a live flow on another public endpoint than their pin, at the last sweep."},
	{"natp2p_enforce_quota_full_hosts", gauge, "LAN hosts holding their quota of pins."},
	{"natp2p_enforce_reinstalls_total", counter, "Times the rules were found missing (a firewall reload or flush) and put back."},
	{"natp2p_enforce_timeouts_raised", gauge, "Conntrack timeouts natp2p raised (cleanup restores them)."},
	{"natp2p_enforce_install_latency_p50_seconds", gauge, "Median pin install latency over the recent installs, from the conntrack event to the kernel's acknowledgement."},
	{"natp2p_enforce_install_latency_p99_seconds", gauge, "99th percentile of the same."},
	{"natp2p_enforce_failures_total", counter, "Failed rule updates, checks and installs."},
}

func writeEnforcement(p *page, r *report.Report) {
	e := r.Enforcement
	mode := "observe"
	if e != nil {
		mode = "enforce"
	}
	p.add(desc{"natp2p_enforce_mode", gauge, "The daemon's mode, as a state set: observe (report only) or enforce."}).
		states("mode", Modes, mode)
	if e == nil {
		return
	}
	f := p.add(desc{"natp2p_enforce_feature", gauge, "Whether an enforcement is switched on (1) or off (0)."})
	for i, on := range [...]bool{e.Mapping, e.Hairpin, e.Timeouts, e.PreservePorts} {
		f.put(b2f(on), "feature", Features[i])
	}
	values := [len(enforceFamilies)]float64{b2f(e.Installed), b2f(e.RandomNAT), float64(e.Pins), float64(e.Pinned),
		float64(e.Adopted), float64(e.Removed), float64(e.Moved), float64(e.Repaired), float64(e.QuotaHits),
		float64(e.NoPort), float64(e.Disagreeing), float64(len(e.QuotaFull)), float64(e.Reinstalls),
		float64(len(e.Raised)), e.InstallP50.Seconds(), e.InstallP99.Seconds(), float64(e.Failures)}
	for i := range enforceFamilies {
		p.add(enforceFamilies[i]).put(values[i])
	}
	if e.ErrorAt != nil {
		p.add(desc{"natp2p_enforce_last_failure_timestamp_seconds", gauge, "When the last failure happened, in Unix seconds."}).
			put(seconds(*e.ErrorAt))
	}
}
