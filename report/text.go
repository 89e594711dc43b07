package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes the report as one screen for an admin at a prompt:
// a header, one line per check and its evidence, and a closing tally.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	writeHeader(bw, r)
	for _, c := range r.Checks {
		fmt.Fprintf(bw, "%-7s %-22s %s\n", c.Verdict, c.ID, c.Summary)
		for _, e := range c.Evidence {
			fmt.Fprintf(bw, "%30s %s\n", "", e)
		}
	}
	fmt.Fprintf(bw, "\n%s\n", tally(r))
	return bw.Flush()
}

func writeHeader(w io.Writer, r *Report) {
	fmt.Fprintf(w, "natp2p report for %s at %s\n", r.Host, r.GeneratedAt.Format(time.RFC3339))
	switch r.Source {
	case SourceDaemon:
		fmt.Fprintf(w, "source: natp2p-agent watching since %s (%s)\n",
			r.Since.Format(time.RFC3339), r.GeneratedAt.Sub(r.Since).Round(time.Second))
	default:
		fmt.Fprintf(w, "source: one-shot snapshot, not a running natp2p-agent: only flows live at that moment count\n")
	}
	fmt.Fprintf(w, "WAN: %s   LAN: %s\n", interfaces(r.WAN), interfaces(r.LAN))
	if e := r.Enforcement; e != nil {
		fmt.Fprintf(w, "mode: enforce (%s)   %s   %s\n", e.Backend, onOff(e), plural(e.Pins, "pin"))
	}
	fmt.Fprintf(w, "mappings: %d udp, %d tcp   flows: %d udp, %d tcp\n\n",
		r.Mappings.UDP, r.Mappings.TCP, r.Flows.UDP, r.Flows.TCP)
}

// onOff lists which enforcements are on.
func onOff(e *Enforcement) string {
	word := map[bool]string{true: "on", false: "off"}
	s := fmt.Sprintf("mapping %s, hairpin %s, timeouts %s", word[e.Mapping], word[e.Hairpin], word[e.Timeouts])
	if e.PreservePorts {
		s += ", ports preserved"
	}
	return s
}

func interfaces(ifs []Interface) string {
	if len(ifs) == 0 {
		return "-"
	}
	parts := make([]string, len(ifs))
	for i, f := range ifs {
		addrs := make([]string, len(f.Addrs))
		for j, a := range f.Addrs {
			addrs[j] = a.String()
		}
		parts[i] = strings.TrimSpace(f.Name + " " + strings.Join(addrs, " "))
	}
	return strings.Join(parts, ", ")
}

func tally(r *Report) string {
	n := map[Verdict]int{}
	for _, c := range r.Checks {
		n[c.Verdict]++
	}
	s := fmt.Sprintf("%d FAIL, %d WARN, %d PASS, %d UNKNOWN", n[Fail], n[Warn], n[Pass], n[Unknown])
	if n[Fail] > 0 {
		return "result: this NAT breaks peer-to-peer guidelines: " + s
	}
	return "result: no check failed: " + s
}

// WriteJSON writes the report as one indented JSON object.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
