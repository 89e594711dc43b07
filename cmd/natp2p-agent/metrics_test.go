package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/agent"
	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/report"
)

// TestMetricsFromSnapshot prints the metrics of a saved snapshot: no
// kernel needed.
func TestMetricsFromSnapshot(t *testing.T) {
	ap := netip.MustParseAddrPort
	flow := func(private, remote, public string) conntrackmap.Flow {
		return conntrackmap.Flow{Proto: conntrackmap.UDP, Orig: conntrackmap.Tuple{Src: ap(private), Dst: ap(remote)},
			Reply: conntrackmap.Tuple{Src: ap(remote), Dst: ap(public)}}
	}
	s := agent.SavedSnapshot{Schema: agent.SnapshotSchema, TakenAt: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), Host: "router",
		WAN: report.Interface{Name: "wan", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.1")}}, LAN: []report.Interface{},
		Sysctls: map[string]int{report.SysctlUDPTimeout: 30}, NATHelpers: []string{},
		Flows: []conntrackmap.Flow{flow("198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
			flow("198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:29352")}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"metrics", "--from", path}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{`natp2p_check{check="mapping.udp",verdict="fail"} 1`, `natp2p_mappings_inconsistent{proto="udp"} 1`,
		`natp2p_conntrack_timeout_seconds{sysctl="udp_timeout"} 30`, `natp2p_report_source{source="snapshot"} 1`,
		`natp2p_build_info{version="dev",`} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, stdout.String())
		}
	}
}

// TestReplayRefusesOtherFiles: run --replay takes a report --json
// document only, and says so on one line.
func TestReplayRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "snapshot.json")
	os.WriteFile(snap, []byte(`{"schema":"natp2p.snapshot/v1"}`), 0o600)
	for _, file := range []string{snap, filepath.Join(dir, "missing.json")} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"run", "--replay", file, "--socket", filepath.Join(dir, "s", "agent.sock")}, &stdout, &stderr)
		if code != exitUsage || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "replay") {
			t.Errorf("run --replay %s: exit %d, %q; want exit %d and one line about the replay", filepath.Base(file), code, stderr.String(), exitUsage)
		}
	}
}
