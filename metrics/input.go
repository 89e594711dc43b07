package metrics

import (
	"io"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/report"
)

// Input is what Write renders.
type Input struct {
	// Report is the compliance report; required.
	Report *report.Report
	// Table holds the mapping table's counts behind the checks (sessions
	// that got another mapping, shared public ports, ...). If nil, they
	// are left out: a report read back from JSON does not carry them.
	Table *conntrackmap.Summary
	// Probes are the daemon's probe counters per vantage point. If nil,
	// runs and failures are left out and the last success is the latest
	// probe's, when it succeeded.
	Probes *ProbeCounters
	Build  BuildInfo
	Device Device
}

// ProbeCounters are the daemon's counters of its probes, per vantage
// point; a nil one is left out.
type ProbeCounters struct {
	LAN, WAN *ProbeStats
}

// ProbeStats counts one vantage point's probes since the daemon started.
type ProbeStats struct {
	Runs, Failures uint64
	LastSuccess    time.Time // zero: none yet
}

// BuildInfo describes the binary, for natp2p_build_info.
type BuildInfo struct {
	Version   string // main.version, "dev" when not stamped
	GoVersion string // runtime.Version()
}

// Write writes in's metrics in the Prometheus text exposition format
// 0.0.4. The series are in a fixed order, so that equal inputs give equal
// bytes.
func Write(w io.Writer, in Input) error {
	var p page
	r := in.Report
	writeChecks(&p, r)
	writeTable(&p, r, in.Table)
	writeSource(&p, r)
	writeProbes(&p, r, in.Probes)
	writeEnforcement(&p, r)
	writeInfo(&p, in)
	return p.write(w)
}

// seconds is a time as Unix seconds, with a fraction.
func seconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
