package report

import (
	"net/netip"
	"time"
)

// Schema names the JSON document's version.
const Schema = "natp2p.report/v1"

// Verdict is a check's result.
type Verdict string

// The verdicts, in the order of severity.
const (
	Pass    Verdict = "PASS"
	Warn    Verdict = "WARN"
	Fail    Verdict = "FAIL"
	Unknown Verdict = "UNKNOWN"
)

// Check is one row of the report.
type Check struct {
	ID       string   `json:"id"`
	Verdict  Verdict  `json:"verdict"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence"`
}

// Interface is a router interface the report is about.
type Interface struct {
	Name  string       `json:"name"`
	Addrs []netip.Addr `json:"addrs"`
}

// Counts is a figure per protocol.
type Counts struct {
	UDP int `json:"udp"`
	TCP int `json:"tcp"`
}

// SourceStats describes how the agent followed the kernel's table.
type SourceStats struct {
	Events    uint64 `json:"events"`    // conntrack events applied
	Resyncs   uint64 `json:"resyncs"`   // full dumps after the first
	Overflows uint64 `json:"overflows"` // times the kernel dropped events (ENOBUFS)
}

// Report is the whole compliance report. The zero values of optional parts
// are omitted from the JSON.
type Report struct {
	Schema      string         `json:"schema"`
	GeneratedAt time.Time      `json:"generated_at"`
	Host        string         `json:"host"`
	Source      string         `json:"source"` // SourceDaemon or SourceSnapshot
	Since       time.Time      `json:"since"`  // when observation began
	WAN         []Interface    `json:"wan"`
	LAN         []Interface    `json:"lan"`
	Checks      []Check        `json:"checks"`
	Mappings    Counts         `json:"mappings"`
	Flows       Counts         `json:"flows"`
	Sysctls     map[string]int `json:"sysctls"`
	Conntrack   *SourceStats   `json:"conntrack,omitempty"`
	Probe       *Probes        `json:"probe,omitempty"`       // the daemon's latest probes
	Enforcement *Enforcement   `json:"enforcement,omitempty"` // enforce mode only
}

// Where the figures come from.
const (
	SourceDaemon   = "daemon"   // a running agent that watched events
	SourceSnapshot = "snapshot" // a one-shot dump: only live flows count
)

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Verdict == Fail {
			return true
		}
	}
	return false
}

// Check returns the check with the given ID, or nil.
func (r *Report) Check(id string) *Check {
	for i := range r.Checks {
		if r.Checks[i].ID == id {
			return &r.Checks[i]
		}
	}
	return nil
}
