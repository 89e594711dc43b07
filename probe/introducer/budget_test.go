package introducer

import (
	"sync"
	"testing"
	"time"
)

// TestBudget: a burst of a tenth of a second's replies, then the rate;
// no credit saved while idle beyond the burst.
func TestBudget(t *testing.T) {
	b := newBudget(1000, epoch) // 1 ms a reply, 100 at once
	tests := []struct {
		name  string
		at    time.Duration
		count int
		want  bool
	}{
		{name: "burst", count: 101, want: true},
		{name: "then empty", want: false},
		{name: "half a reply later", at: 500 * time.Microsecond, want: false},
		{name: "one reply later", at: time.Millisecond, want: true},
		{name: "only one", at: time.Millisecond, want: false},
		{name: "ten later", at: 11 * time.Millisecond, count: 10, want: true},
		{name: "not eleven", at: 11 * time.Millisecond, want: false},
		{name: "an hour idle: one burst", at: time.Hour, count: 101, want: true},
		{name: "and no more", at: time.Hour, want: false},
	}
	for _, tt := range tests {
		for i := 0; i < max(1, tt.count); i++ {
			if got := b.allow(at(tt.at)); got != tt.want {
				t.Fatalf("%s (#%d): allow = %v, want %v", tt.name, i, got, tt.want)
			}
		}
	}
}

func TestBudgetUnlimited(t *testing.T) {
	for _, rate := range []float64{0, -1} {
		b := newBudget(rate, epoch)
		for i := 0; i < 1000; i++ {
			if !b.allow(epoch) {
				t.Fatalf("rate %v: refused reply %d", rate, i)
			}
		}
	}
}

// TestBudgetConcurrent: readers racing on one budget never get more than
// it holds, and allocate nothing.
func TestBudgetConcurrent(t *testing.T) {
	b := newBudget(10000, epoch) // 1,001 at once
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := 0; i < 1000; i++ {
				if b.allow(at(time.Microsecond)) {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if allowed != 1001 {
		t.Errorf("%d replies allowed, want 1001", allowed)
	}
	if allocs := testing.AllocsPerRun(100, func() { b.allow(at(time.Second)) }); allocs != 0 {
		t.Errorf("%v allocations per allow, want 0", allocs)
	}
}

// BenchmarkBudget is the global bound's cost per reply, on every CPU at
// once (all taking from one budget), and per refusal.
func BenchmarkBudget(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate float64
	}{{"allow", 1e12}, {"refuse", 1e-3}} {
		b.Run(bc.name, func(b *testing.B) {
			now := time.Now() // the server reads the clock once per request anyway
			bud := newBudget(bc.rate, now)
			bud.allow(now)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bud.allow(now)
				}
			})
		})
	}
}
