package metrics

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
)

// The metric types of the text format.
const (
	gauge   = "gauge"
	counter = "counter"
)

// page collects metric families in the order they are written.
type page struct {
	fams []*family
}

// desc describes a metric family: its name, TYPE and HELP.
type desc struct{ name, typ, help string }

// family is one metric: its description and its samples.
type family struct {
	desc
	samples []sample
}

// sample is one series: label pairs (name, value, name, value...) and a
// value.
type sample struct {
	labels []string
	value  float64
}

// add starts a family. A family without samples is not written.
//
//go:noinline
func (p *page) add(d desc) *family {
	f := &family{desc: d}
	p.fams = append(p.fams, f)
	return f
}

// put adds a sample with labels given as name, value pairs. It is not
// inlined: its call sites are many, and each inlined copy would cost the
// router's binary.
//
//go:noinline
func (f *family) put(v float64, labels ...string) {
	f.samples = append(f.samples, sample{labels: labels, value: v})
}

// states adds a state set: one sample per state, labelled key=state, 1 for
// the current state and 0 for the others, after the other labels.
func (f *family) states(key string, states []string, current string, labels ...string) {
	for _, s := range states {
		f.put(b2f(s == current), append(append([]string{}, labels...), key, s)...)
	}
}

// b2f is 1 for true and 0 for false.
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// write writes the page in the text exposition format 0.0.4.
func (p *page) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, f := range p.fams {
		if len(f.samples) == 0 {
			continue
		}
		bw.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
		bw.WriteString("# TYPE " + f.name + " " + f.typ + "\n")
		for _, s := range f.samples {
			writeSample(bw, f.name, s)
		}
	}
	return bw.Flush()
}

func writeSample(w *bufio.Writer, name string, s sample) {
	w.WriteString(name)
	for i := 0; i+1 < len(s.labels); i += 2 {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		w.WriteString(sep + s.labels[i] + `="` + escapeLabel(s.labels[i+1]) + `"`)
	}
	if len(s.labels) > 0 {
		w.WriteString("}")
	}
	w.WriteString(" " + formatValue(s.value) + "\n")
}

// formatValue writes integers without an exponent and other numbers in
// the shortest form that reads back exactly.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string { return escape(s, false) }

// escapeLabel escapes a label value: backslash, double quote and line feed.
func escapeLabel(s string) string { return escape(s, true) }

// escape writes backslash as \\, line feed as \n and, in label values,
// double quote as \". (By hand: strings.Replacer costs the router's
// binary 12 KB.)
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
