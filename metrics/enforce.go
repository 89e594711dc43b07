package metrics

import (
	"github.com/natp2p/natp2p/report"
)

// Modes are natp2p_enforce_mode's states.
var Modes = []string{"observe", "enforce"}

// Features are the values of natp2p_enforce_feature's feature label: the
// enforcement switches.
var Features = []string{"mapping", "hairpin", "timeouts", "preserve_ports"}

func writeEnforcement(p *page, r *report.Report) {
	e := r.Enforcement
	mode := "observe"
	if e != nil {
		mode = "enforce"
	}
	p.add("natp2p_enforce_mode", gauge, "The daemon's mode, as a state set: observe (report only) or enforce.").
		states("mode", Modes, mode)
	if e == nil {
		return
	}
	f := p.add("natp2p_enforce_feature", gauge, "Whether an enforcement is switched on (1) or off (0).")
	for i, on := range []bool{e.Mapping, e.Hairpin, e.Timeouts, e.PreservePorts} {
		f.put(b2f(on), "feature", Features[i])
	}
	g := func(name, help string, v float64) { p.add(name, gauge, help).put(v) }
	c := func(name, help string, v uint64) { p.add(name, counter, help).put(float64(v)) }
	g("natp2p_enforce_installed", "Whether natp2p's rules were in place at the last check.", b2f(e.Installed))
	g("natp2p_enforce_random_nat", "Whether the router's NAT picks ports fully at random and the backend pins too late for a second destination sent at once.", b2f(e.RandomNAT))
	g("natp2p_enforce_pins", "Pins held now: private endpoints with a fixed public endpoint.", float64(e.Pins))
	c("natp2p_enforce_pinned_total", "Pins made from flows.", e.Pinned)
	c("natp2p_enforce_adopted_total", "Pins found in the kernel at start and kept.", e.Adopted)
	c("natp2p_enforce_removed_total", "Pins dropped: idle past the grace period, or their address left the WAN.", e.Removed)
	c("natp2p_enforce_moved_total", "Endpoints moved off another endpoint's pinned port (RFC 4787 REQ-3).", e.Moved)
	c("natp2p_enforce_repaired_total", "New flows that missed their pin and were translated again.", e.Repaired)
	c("natp2p_enforce_quota_hits_total", "Flows left unpinned because their host held its quota of pins.", e.QuotaHits)
	c("natp2p_enforce_no_port_total", "Endpoints that needed a free public port and found none.", e.NoPort)
	g("natp2p_enforce_disagreeing", "Pinned endpoints with a live flow on another public endpoint than their pin, at the last sweep.", float64(e.Disagreeing))
	g("natp2p_enforce_quota_full_hosts", "LAN hosts holding their quota of pins.", float64(len(e.QuotaFull)))
	c("natp2p_enforce_reinstalls_total", "Times the rules were found missing (a firewall reload or flush) and put back.", e.Reinstalls)
	g("natp2p_enforce_timeouts_raised", "Conntrack timeouts natp2p raised (cleanup restores them).", float64(len(e.Raised)))
	g("natp2p_enforce_install_latency_p50_seconds",
		"Median pin install latency over the recent installs, from the conntrack event to the kernel's acknowledgement.", e.InstallP50.Seconds())
	g("natp2p_enforce_install_latency_p99_seconds", "99th percentile of the same.", e.InstallP99.Seconds())
	c("natp2p_enforce_failures_total", "Failed rule updates, checks and installs.", e.Failures)
	if e.ErrorAt != nil {
		g("natp2p_enforce_last_failure_timestamp_seconds", "When the last failure happened, in Unix seconds.", seconds(*e.ErrorAt))
	}
}
