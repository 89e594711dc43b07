package fleetsim

import (
	"os"
	"testing"
	"time"
)

// TestUsageOf reads this test's own process: it holds memory and has
// run, and spinning makes its CPU time grow (the spin is bounded by wall
// time, as a loaded machine may give it little CPU).
func TestUsageOf(t *testing.T) {
	a, err := usageOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if a.RSS <= 0 || a.CPU <= 0 || a.Children < 0 {
		t.Errorf("usage %+v: no memory or CPU", a)
	}
	var d Usage
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && d.CPU < 10*time.Millisecond; {
		b, err := usageOf(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		d = b.Sub(a)
	}
	if d.CPU < 10*time.Millisecond {
		t.Errorf("10 s of spinning took %v of CPU", d.CPU)
	}
	if _, err := usageOf(-1); err == nil {
		t.Error("no process: no error")
	}
}
