package probe

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// WriteText writes the report for a person at a prompt.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "natp2p probe via introducer %s", r.Introducer)
	if r.Other.IsValid() {
		fmt.Fprintf(bw, " (RFC 5780, other address %s)\n", r.Other)
	} else {
		fmt.Fprintf(bw, " (no RFC 5780 other address: filtering not measured, mapping only with --second)\n")
	}
	fmt.Fprintf(bw, "local %s is seen as %s (%s)\n\n", r.Local, r.Public, r.Duration.Round(time.Millisecond))
	rows := []struct{ name, value string }{
		{"mapping", string(r.Mapping)},
		{"filtering", string(r.Filtering)},
		{"tcp mapping", string(r.TCPMapping)},
		{"hairpin", triState(r.Hairpin)},
		{"port preservation", triState(r.PortPreservation)},
		{"ALG rewriting", triState(r.ALG)},
		{"NAT", triState(r.NAT)},
		{"unsolicited SYN", string(r.TCPUnsolicited)},
		{"p2p udp", punchState(r.P2PUDP)},
		{"p2p tcp", punchState(r.P2PTCP)},
	}
	if r.UpstreamNAT != nil {
		rows = append(rows, struct{ name, value string }{"upstream NAT", triState(r.UpstreamNAT)})
	}
	for _, l := range r.Layers {
		rows = append(rows, struct{ name, value string }{"layer " + l.Name,
			fmt.Sprintf("mapping %s, tcp mapping %s, filtering %s", l.Mapping, l.TCPMapping, l.Filtering)})
	}
	if r.Lifetime != nil {
		rows = append(rows, struct{ name, value string }{"mapping lifetime", r.Lifetime.String()})
	}
	for _, row := range rows {
		fmt.Fprintf(bw, "%-19s %s\n", row.name+":", row.value)
	}
	return bw.Flush()
}

// triState prints a tri-state: "not checked" rather than "no" for nil.
func triState(b *bool) string {
	switch {
	case b == nil:
		return "not checked"
	case *b:
		return "yes"
	}
	return "no"
}

// punchState prints a hole-punching result.
func punchState(b *bool) string {
	switch {
	case b == nil:
		return "not tried"
	case *b:
		return "direct session"
	}
	return "no direct session"
}
