package status

import (
	"net/netip"
	"time"
)

// Status is what the Enforcer did, for the report.
type Status struct {
	Backend   string `json:"backend,omitempty"`
	Installed bool   `json:"installed"` // the rules were in place at the last check
	PlannerStats
	Reinstalls uint64 `json:"reinstalls"` // times the rules were found missing and put back
	// PinsPutBack counts the times every pin was put back with the rules in
	// place (an update failed, or the kernel lacked a pin): no reload.
	PinsPutBack uint64          `json:"pins_put_back"`
	Raised      []TimeoutChange `json:"timeouts_raised"` // conntrack timeouts raised, with their originals
	QuotaFull   []netip.Addr    `json:"quota_full"`      // LAN hosts holding their quota of pins
	// InstallP50 and InstallP99 are pin install latencies (from the
	// conntrack event to the kernel's acknowledgement of the rule).
	InstallP50 time.Duration `json:"install_p50_ns"`
	InstallP99 time.Duration `json:"install_p99_ns"`
	// RandomNAT: the router's own NAT allocates ports fully at random and
	// the backend pins too late for a second destination sent at once
	// (iptables without Rules.Preserve).
	RandomNAT bool       `json:"random_nat"`
	Failures  uint64     `json:"failures"`           // failed rule updates, checks and installs
	Error     string     `json:"error,omitempty"`    // the last failure, if any
	ErrorAt   *time.Time `json:"error_at,omitempty"` // when it happened
}

// PlannerStats counts what the Planner did.
type PlannerStats struct {
	Pins      int    `json:"pins"`       // pins held now
	Pinned    uint64 `json:"pinned"`     // pins made from flows
	Adopted   uint64 `json:"adopted"`    // pins found in the kernel at start
	Removed   uint64 `json:"removed"`    // pins dropped: idle past the grace period, their address left the WAN, evicted or unanswered (below)
	Moved     uint64 `json:"moved"`      // endpoints moved off another endpoint's pinned port (RFC 4787 REQ-3)
	Repaired  uint64 `json:"repaired"`   // new flows that missed their pin and were translated again
	QuotaHits uint64 `json:"quota_hits"` // new flows left unpinned because their host held its quota of replied pins
	NoPort    uint64 `json:"no_port"`    // endpoints that needed a free port and found none
	// PressureHits are new flows left unpinned because the public port
	// range ran low (its last ports are reserved for hosts with few pins)
	// or every host's pins reached the cap, and their host held its share.
	PressureHits uint64 `json:"pressure_hits"`
	// Unreplied is how many pins held have flows that never saw a reply
	// (as a forged source's never do); Evicted counts such pins dropped to
	// make room for a new pin (their host's quota, their bound, pressure),
	// Unanswered those dropped when their short life ran out.
	Unreplied  int    `json:"unreplied"`
	Evicted    uint64 `json:"evicted"`
	Unanswered uint64 `json:"unanswered"`
	// Disagreeing is how many pinned endpoints have a live flow on another
	// public endpoint than their pin (old flows from before the pin),
	// as of the last sweep.
	Disagreeing int `json:"disagreeing"`
}

// TimeoutChange is one sysctl enforcement raised.
type TimeoutChange struct {
	Name string `json:"name"`
	Was  int    `json:"was"`
	Now  int    `json:"now"`
}

// TCPTransitory are the TCP states RFC 5382 REQ-5 calls transitory: the
// conntrack timeout sysctls enforcement raises to four minutes, by full
// name.
var TCPTransitory = []string{
	"net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
	"net.netfilter.nf_conntrack_tcp_timeout_syn_recv",
	"net.netfilter.nf_conntrack_tcp_timeout_fin_wait",
	"net.netfilter.nf_conntrack_tcp_timeout_close_wait",
	"net.netfilter.nf_conntrack_tcp_timeout_last_ack",
	"net.netfilter.nf_conntrack_tcp_timeout_time_wait",
}
