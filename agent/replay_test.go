package agent

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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

// TestReplayServesMetrics: a replaying daemon serves the saved report's
// verdicts on metrics_listen, writes its textfile at once (the report
// will not change) and answers the control socket's "metrics".
func TestReplayServesMetrics(t *testing.T) {
	r, err := ReadReport("../report/testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	addr, file := freeAddr(t), shmFile(t)
	path := filepath.Join(t.TempDir(), "agent.sock")
	a := Replay(r, Config{Socket: path, MetricsListen: addr, MetricsTextfile: file, Version: "9.9"})
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- a.Run(ctx, ready) }()
	<-ready
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, c := range r.Checks {
		want := `natp2p_check{check="` + c.ID + `",verdict="` + strings.ToLower(string(c.Verdict)) + `"} 1`
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), "natp2p_sessions_remapped_total") {
		t.Error("a replayed page has the table's counts, which a report's JSON does not carry")
	}
	if page, err := QueryMetrics(ctx, path); err != nil || !strings.Contains(string(page), `natp2p_build_info{version="9.9",`) {
		t.Errorf("QueryMetrics = %.100q, %v", page, err)
	}
	if file != "" {
		for deadline := time.Now().Add(runWait); ; time.Sleep(10 * time.Millisecond) {
			if b, err := os.ReadFile(file); err == nil && strings.Contains(string(b), "natp2p_check{") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the replaying daemon did not write its textfile at once")
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
