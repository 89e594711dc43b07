package fleetsim

import (
	"os"
	"testing"
	"time"
)

// TestUsageOf reads this test's own process: it holds memory and has
// run, and a later reading has not run less.
func TestUsageOf(t *testing.T) {
	a, err := usageOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
	}
	b, err := usageOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if a.RSS <= 0 || a.CPU <= 0 {
		t.Errorf("usage %+v: no memory or CPU", a)
	}
	if d := b.Sub(a); d.CPU < 10*time.Millisecond || d.Children < 0 {
		t.Errorf("20 ms of spinning took %v of CPU (children %v)", d.CPU, d.Children)
	}
	if _, err := usageOf(-1); err == nil {
		t.Error("no process: no error")
	}
}
