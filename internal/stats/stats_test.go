package stats

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	xs := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{0, 1}, {50, 5}, {90, 9}, {99, 9}, {100, 10}} {
		if got := Percentile(xs, tt.p); got != tt.want {
			t.Errorf("Percentile(%d) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if xs[0] != 5 {
		t.Error("Percentile sorted its input")
	}
	if got := Percentile([]float64(nil), 50); got != 0 {
		t.Errorf("Percentile of none = %v, want 0", got)
	}
}
