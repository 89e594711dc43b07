package agent

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReplayServesTheSavedReport: a replaying daemon answers its control
// socket with the saved report as it is, and touches no kernel (the
// hooks would fail the test if it listened elsewhere than its socket).
func TestReplayServesTheSavedReport(t *testing.T) {
	want, err := ReadReport("../report/testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent.sock")
	a := Replay(want, Config{Socket: path})
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- a.Run(ctx, ready) }()
	<-ready
	got, ms, err := Query(ctx, path, "report")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Query(report) = %+v, %v;\nwant the saved %+v", got, err, want)
	}
	if _, ms, err = Query(ctx, path, "mappings"); err != nil || len(ms) != 0 {
		t.Errorf("Query(mappings) = %v, %v; want none", ms, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestReadReportRefusesOtherDocuments(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"snapshot.json": `{"schema":"natp2p.snapshot/v1"}`,
		"empty.json":    ``,
		"text.json":     "natp2p report for router\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := ReadReport(p); err == nil {
			t.Errorf("ReadReport(%s): no error", name)
		}
	}
	if _, err := ReadReport(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("ReadReport(missing): no error")
	}
}
