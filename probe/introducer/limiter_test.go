package introducer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return epoch.Add(d) }

func TestLimiterTokenBucket(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name  string
		addr  netip.Addr
		at    time.Duration
		want  bool
		count int // repeat
	}{
		{name: "burst of 3", addr: a, want: true, count: 3},
		{name: "then empty", addr: a, want: false, count: 2},
		{name: "other source unaffected", addr: b, want: true},
		{name: "half a token later", addr: a, at: 50 * time.Millisecond, want: false},
		{name: "one token later", addr: a, at: 100 * time.Millisecond, want: true},
		{name: "only one", addr: a, at: 100 * time.Millisecond, want: false},
		{name: "refilled up to burst only", addr: a, at: time.Hour, want: true, count: 3},
		{name: "empty again", addr: a, at: time.Hour, want: false},
		{name: "clock going back gives nothing", addr: a, at: time.Minute, want: false},
	}
	l := newLimiter(10, 3, 100, epoch)
	for _, tt := range tests {
		for i := 0; i < max(1, tt.count); i++ {
			if got := l.allow(tt.addr, at(tt.at)); got != tt.want {
				t.Fatalf("%s (#%d): allow = %v, want %v", tt.name, i, got, tt.want)
			}
		}
	}
}

func TestLimiterUnlimited(t *testing.T) {
	l := newLimiter(-1, 0, 1, epoch)
	for i := 0; i < 1000; i++ {
		if !l.allow(netip.MustParseAddr("192.0.2.1"), epoch) {
			t.Fatal("rate < 0 limited a request")
		}
	}
	if n := l.sources(); n != 0 {
		t.Errorf("unlimited limiter tracks %d sources", n)
	}
}

// TestLimiterBounded floods the limiter with spoofed sources: it never
// tracks more than max, keeps the most recent ones, and reuses slots.
func TestLimiterBounded(t *testing.T) {
	const max = 1000
	l := newLimiter(1, 1, max, epoch)
	for i := 0; i < 100*max; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if !l.allow(a, epoch) {
			t.Fatalf("new source %v limited", a)
		}
		if n := l.sources(); n > max || len(l.slots) > max {
			t.Fatalf("after %d sources: %d tracked, %d slots; max %d", i+1, n, len(l.slots), max)
		}
	}
	n := 100*max - 1
	last := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
	if l.allow(last, epoch) {
		t.Error("the most recent source was forgotten (its bucket is empty)")
	}
	if !l.allow(netip.MustParseAddr("10.0.0.0"), epoch) {
		t.Error("the oldest source is still tracked (its bucket should be new)")
	}
	checkList(t, l)
}

// checkList walks the LRU list both ways.
func checkList(t *testing.T, l *limiter) {
	t.Helper()
	n := 0
	for i := l.head; i >= 0; i = l.slots[i].next {
		if idx, ok := l.index[l.slots[i].key]; !ok || idx != i {
			t.Fatalf("slot %d not indexed", i)
		}
		n++
	}
	back := 0
	for i := l.tail; i >= 0; i = l.slots[i].prev {
		back++
	}
	if n != len(l.index) || back != n {
		t.Errorf("list has %d forward, %d backward, index %d", n, back, len(l.index))
	}
}

// TestLimiterLRU: a source that keeps sending stays tracked while others
// come and go.
func TestLimiterLRU(t *testing.T) {
	l := newLimiter(1, 2, 3, epoch)
	busy := netip.MustParseAddr("192.0.2.1")
	l.allow(busy, epoch)
	for i := 0; i < 10; i++ {
		l.allow(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)}), epoch)
		if i%2 == 0 {
			l.allow(busy, epoch)
		}
	}
	// busy used 3 tokens out of 2 + refills: still tracked, so empty.
	if l.allow(busy, epoch) {
		t.Error("busy source forgotten")
	}
	checkList(t, l)
}

func TestSourceKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
	}
	for _, tt := range tests {
		got := sourceKey(netip.MustParseAddr(tt.in)).String()
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("sourceKey(%s) (-want +got):\n%s", tt.in, diff)
		}
	}
}
