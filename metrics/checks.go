package metrics

import (
	"strings"

	"github.com/natp2p/natp2p/report"
)

// Verdicts are natp2p_check's states: the report's verdicts in lower case.
var Verdicts = []string{"pass", "warn", "fail", "unknown"}

// Sources are natp2p_report_source's states.
var Sources = []string{report.SourceDaemon, report.SourceSnapshot}

func writeChecks(p *page, r *report.Report) {
	f := p.add(desc{"natp2p_check", gauge,
		"A compliance check's verdict, as a state set: one series per verdict, the check's verdict at 1 (docs/report.md)."})
	for _, c := range r.Checks {
		f.states("verdict", Verdicts, verdict(c.Verdict), "check", c.ID)
	}
	p.add(desc{"natp2p_report_timestamp_seconds", gauge, "When the report was made, in Unix seconds."}).
		put(seconds(r.GeneratedAt))
	p.add(desc{"natp2p_observation_start_timestamp_seconds", gauge,
		"When observation began (the daemon's first conntrack dump, or the snapshot), in Unix seconds."}).
		put(seconds(r.Since))
	p.add(desc{"natp2p_report_source", gauge,
		"Where the figures come from, as a state set: daemon (followed conntrack events since the start) or snapshot (one dump)."}).
		states("source", Sources, r.Source)
}

// verdict is a verdict's state: unknown for one this package does not know,
// so that exactly one state is at 1.
func verdict(v report.Verdict) string {
	return oneOf(strings.ToLower(string(v)), Verdicts, "unknown")
}

// oneOf is s if it is one of states, else def.
func oneOf(s string, states []string, def string) string {
	for _, known := range states {
		if s == known {
			return s
		}
	}
	return def
}
