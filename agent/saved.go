package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/report"
)

// SnapshotSchema names the saved-snapshot document's version.
const SnapshotSchema = "natp2p.snapshot/v1"

// SavedSnapshot is everything a report reads from a router, saved by
// `natp2p-agent dump`: a report can then be made elsewhere, later, or on
// another architecture (`report --from FILE`), as support and the
// cross-architecture tests do.
type SavedSnapshot struct {
	Schema     string              `json:"schema"`
	TakenAt    time.Time           `json:"taken_at"`
	Host       string              `json:"host"`
	WAN        report.Interface    `json:"wan"`
	LAN        []report.Interface  `json:"lan"`
	Sysctls    map[string]int      `json:"sysctls"`
	NATHelpers []string            `json:"nat_helpers"`
	Flows      []conntrackmap.Flow `json:"flows"`
}

// Save dumps conntrack and returns the router's state.
func (a *Agent) Save(ctx context.Context) (*SavedSnapshot, error) {
	s := &SavedSnapshot{Schema: SnapshotSchema, TakenAt: a.cfg.Now().UTC(), Host: a.host, WAN: *a.wan.Load(),
		LAN: a.lan, Sysctls: a.cfg.System.Sysctls(report.Sysctls()), NATHelpers: a.cfg.System.NATHelpers(),
		Flows: []conntrackmap.Flow{}}
	err := a.source.dump(ctx, func(f conntrackmap.Flow) { s.Flows = append(s.Flows, f) })
	return s, err
}

// ReadSnapshot reads a saved snapshot.
func ReadSnapshot(path string) (*SavedSnapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	return decodeSnapshot(f, path)
}

func decodeSnapshot(r io.Reader, name string) (*SavedSnapshot, error) {
	var s SavedSnapshot
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("snapshot %s: not a %s document: %w", name, SnapshotSchema, err)
	}
	if s.Schema != SnapshotSchema {
		return nil, fmt.Errorf("snapshot %s: schema %q, want %q", name, s.Schema, SnapshotSchema)
	}
	return &s, nil
}

// FromSnapshot returns an agent that reports on a saved snapshot: its table
// holds the saved flows, and the saved interfaces, sysctls and helpers
// stand in for the router's.
func FromSnapshot(s *SavedSnapshot, cfg Config) *Agent {
	cfg.Now = func() time.Time { return s.TakenAt } // the report is of that moment
	a := &Agent{cfg: cfg, log: logx.Discard(), host: s.Host, lan: s.LAN, saved: s,
		table:  conntrackmap.New(conntrackmap.Config{Now: func() time.Time { return s.TakenAt }}),
		source: NewSource(SourceConfig{})}
	wan := s.WAN
	a.wan.Store(&wan)
	a.table.Replace(s.Flows)
	return a
}
