package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/natp2p/natp2p/agent"
	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/report"
)

// parseOutput parses the flags of a command that prints a report or table
// and returns them with the output format.
func parseOutput(name string, args []string, stderr io.Writer) (*common, string, error) {
	fs := newFlagSet(name, stderr)
	c := &common{}
	c.register(fs, true)
	if err := parse(fs, args); err != nil {
		return nil, "", err
	}
	if err := c.resolve(); err != nil {
		return nil, "", err
	}
	format, err := c.outputFormat()
	return c, format, err
}

func execReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, format, err := parseOutput("report", args, stderr)
	if err != nil {
		return err
	}
	r, err := fetchReport(ctx, c)
	if err != nil {
		return err
	}
	if err := writeReport(stdout, r, format); err != nil {
		return err
	}
	if r.Failed() {
		return errChecksFailed
	}
	return nil
}

// fetchReport asks the daemon; without one it takes a snapshot. Interface
// flags only apply to snapshots: a daemon reports on its own interfaces.
func fetchReport(ctx context.Context, c *common) (*report.Report, error) {
	if c.from != "" {
		a, err := fromFile(c)
		if err != nil {
			return nil, err
		}
		r := a.Report(report.SourceSnapshot)
		return &r, nil
	}
	r, _, err := agent.Query(ctx, c.cfg.Socket, "report")
	if !errors.Is(err, agent.ErrNoDaemon) {
		return r, err
	}
	a, err := snapshot(ctx, c)
	if err != nil {
		return nil, err
	}
	snap := a.Report(report.SourceSnapshot)
	return &snap, nil
}

// fromFile returns an agent reporting on the saved snapshot c.from.
func fromFile(c *common) (*agent.Agent, error) {
	s, err := agent.ReadSnapshot(c.from)
	if err != nil {
		return nil, err
	}
	return agent.FromSnapshot(s, c.cfg), nil
}

// snapshot returns an agent whose table holds one dump of conntrack.
func snapshot(ctx context.Context, c *common) (*agent.Agent, error) {
	a, err := agent.New(c.cfg)
	if err != nil {
		return nil, err
	}
	return a, a.Snapshot(ctx)
}

func writeReport(w io.Writer, r *report.Report, format string) error {
	return write(w, format, r, func() error { return report.WriteText(w, r) })
}

func execMappings(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, format, err := parseOutput("mappings", args, stderr)
	if err != nil {
		return err
	}
	ms, err := fetchMappings(ctx, c)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []conntrackmap.Mapping{} // print [], not null
	}
	return write(stdout, format, ms, func() error { return writeMappings(stdout, ms) })
}

// write prints v as indented JSON or one JSON line as format asks, or as
// text with text.
func write(w io.Writer, format string, v any, text func() error) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "json-line":
		return json.NewEncoder(w).Encode(v)
	}
	return text()
}

func fetchMappings(ctx context.Context, c *common) ([]conntrackmap.Mapping, error) {
	if c.from != "" {
		a, err := fromFile(c)
		if err != nil {
			return nil, err
		}
		return a.Table().Mappings(), nil
	}
	_, ms, err := agent.Query(ctx, c.cfg.Socket, "mappings")
	if !errors.Is(err, agent.ErrNoDaemon) {
		return ms, err
	}
	a, err := snapshot(ctx, c)
	if err != nil {
		return nil, err
	}
	return a.Table().Mappings(), nil
}

func writeMappings(w io.Writer, ms []conntrackmap.Mapping) error {
	rows := [][]string{{"PROTO", "PRIVATE", "PUBLIC", "SESSIONS", "PRESERVED", "REMOTES"}}
	for _, m := range ms {
		pubs := make([]string, len(m.Public))
		for i, p := range m.Public {
			pubs[i] = p.String()
		}
		rows = append(rows, []string{m.Proto.String(), m.Private.String(), strings.Join(pubs, " + "),
			strconv.Itoa(len(m.Remotes)), yesNo(m.Preserved), remotes(m.Remotes)})
	}
	return writeColumns(w, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// remotes lists up to three remote endpoints.
func remotes(rs []netip.AddrPort) string {
	var parts []string
	for i, r := range rs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(rs)-3))
			break
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, " ")
}
