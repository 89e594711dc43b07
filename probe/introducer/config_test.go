package introducer

import (
	"context"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var addr = netip.MustParseAddr

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string // substring; "" means valid
	}{
		{name: "primary only", cfg: Config{Primary: addr("203.0.113.10")}},
		{name: "two addresses", cfg: Config{Primary: addr("203.0.113.10"), Alternate: addr("203.0.113.11")}},
		{name: "IPv6", cfg: Config{Primary: addr("2001:db8::10"), Alternate: addr("2001:db8::11")}},
		{name: "mapped IPv4 unmapped", cfg: Config{Primary: addr("::ffff:203.0.113.10"), Alternate: addr("203.0.113.11")}},
		{name: "no primary", cfg: Config{}, err: "Primary address required"},
		{name: "wildcard", cfg: Config{Primary: addr("0.0.0.0")}, err: "unicast"},
		{name: "multicast alternate", cfg: Config{Primary: addr("203.0.113.10"), Alternate: addr("224.0.0.1")}, err: "unicast"},
		{name: "same address", cfg: Config{Primary: addr("203.0.113.10"), Alternate: addr("203.0.113.10")}, err: "two addresses"},
		{name: "mixed families", cfg: Config{Primary: addr("203.0.113.10"), Alternate: addr("2001:db8::1")}, err: "families"},
		{name: "same ports", cfg: Config{Primary: addr("203.0.113.10"), Port: 3479}, err: "two ports"},
		{name: "NaN rate", cfg: Config{Primary: addr("203.0.113.10"), Rate: nan()}, err: "Rate"},
		{name: "negative burst", cfg: Config{Primary: addr("203.0.113.10"), Burst: -1}, err: "Burst"},
		{name: "negative max sources", cfg: Config{Primary: addr("203.0.113.10"), MaxSources: -1}, err: "MaxSources"},
		{name: "long software", cfg: Config{Primary: addr("203.0.113.10"), Software: strings.Repeat("x", 129)}, err: "Software"},
		{name: "infinite global rate", cfg: Config{Primary: addr("203.0.113.10"), GlobalRate: math.Inf(1)}, err: "GlobalRate"},
		{name: "negative TCP conns", cfg: Config{Primary: addr("203.0.113.10"), TCPConns: -1}, err: "TCPConns"},
		{name: "negative per source", cfg: Config{Primary: addr("203.0.113.10"), TCPConnsPerSource: -1}, err: "TCPConnsPerSource"},
		{name: "negative requests", cfg: Config{Primary: addr("203.0.113.10"), TCPRequests: -2}, err: "TCPRequests"},
		{name: "negative life", cfg: Config{Primary: addr("203.0.113.10"), TCPLife: -time.Second}, err: "TCPLife"},
		{name: "no global bound", cfg: Config{Primary: addr("203.0.113.10"), GlobalRate: -1}},
		{name: "bad UTF-8 software", cfg: Config{Primary: addr("203.0.113.10"), Software: "\xff"}, err: "Software"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) ||
				!strings.HasPrefix(err.Error(), "introducer: ")):
				t.Errorf("New: %v, want an \"introducer: \" error containing %q", err, tt.err)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func TestDefaults(t *testing.T) {
	got := Config{Primary: addr("203.0.113.10")}.withDefaults()
	want := Config{Primary: addr("203.0.113.10"), Port: 3478, AltPort: 3479, Rate: 50, Burst: 100,
		MaxSources: 65536, SummaryEvery: time.Minute, Software: "natp2p-introducer", GlobalRate: 10000,
		TCPConns: 1024, TCPConnsPerSource: 8, TCPLife: 10 * time.Second, TCPRequests: 16, Logger: got.Logger}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreFields(Config{}, "Logger")); diff != "" {
		t.Errorf("withDefaults (-want +got):\n%s", diff)
	}
	if got.Logger == nil || got.Logger.Enabled(context.Background(), slog.LevelError) {
		t.Error("nil Logger must become a logger that discards")
	}
}

// TestGlobalRateDefault: the global bound defaults on, unless rate
// limiting is off (Rate negative) and the bound is not set.
func TestGlobalRateDefault(t *testing.T) {
	tests := []struct {
		rate, global, want float64
	}{
		{0, 0, DefaultGlobalRate}, {50, 0, DefaultGlobalRate}, {-1, 0, -1}, {-1, 5000, 5000}, {50, -1, -1},
	}
	for _, tt := range tests {
		c := Config{Primary: addr("203.0.113.10"), Rate: tt.rate, GlobalRate: tt.global}.withDefaults()
		if c.GlobalRate != tt.want {
			t.Errorf("Rate %v, GlobalRate %v: GlobalRate %v, want %v", tt.rate, tt.global, c.GlobalRate, tt.want)
		}
	}
}

func TestPlanSockets(t *testing.T) {
	full := newPlan(Config{Primary: a1p1.Addr(), Alternate: a2p1.Addr()}.withDefaults())
	if diff := cmp.Diff([]netip.AddrPort{a1p1, a1p2, a2p1, a2p2}, full.sockets(), equateIP); diff != "" {
		t.Errorf("sockets (-want +got):\n%s", diff)
	}
	one := newPlan(Config{Primary: a1p1.Addr()}.withDefaults())
	if diff := cmp.Diff([]netip.AddrPort{a1p1}, one.sockets(), equateIP); diff != "" {
		t.Errorf("degraded sockets (-want +got):\n%s", diff)
	}
}
