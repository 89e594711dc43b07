package enforce

import (
	"testing"
	"time"
)

func TestLatenciesKeepTheLatestSamples(t *testing.T) {
	var l latencies
	if p50, p99 := l.percentiles(); p50 != 0 || p99 != 0 {
		t.Errorf("no samples: percentiles %v, %v; want zero", p50, p99)
	}
	for i := 0; i < latencySamples; i++ {
		l.record(time.Hour) // all overwritten below
	}
	for i := 0; i < latencySamples; i++ {
		l.record(time.Duration(i+1) * time.Millisecond)
	}
	if len(l.ring) != latencySamples {
		t.Fatalf("%d samples held, want %d", len(l.ring), latencySamples)
	}
	p50, p99 := l.percentiles()
	if p50 != 512*time.Millisecond || p99 != 1013*time.Millisecond {
		t.Errorf("percentiles %v, %v; want 512ms, 1.013s", p50, p99)
	}
}
