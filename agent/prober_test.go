package agent

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/probe"
)

func TestProberRecordsWhyAProbeDidNotRun(t *testing.T) {
	p := &prober{introducer: "203.0.113.10:3478",
		lanFrom: func() netip.Addr { return netip.Addr{} },
		wanFrom: func() netip.Addr { return netip.MustParseAddr("203.0.113.1") },
		run: func(context.Context, probe.Config) (*probe.Report, error) {
			return nil, errors.New("the introducer did not answer")
		}}
	p.probeBoth(context.Background(), logx.Discard())
	lan, wan := p.latest()
	if lan == nil || lan.Error == "" || lan.Report != nil {
		t.Errorf("lan result %+v: want the reason no probe ran", lan)
	}
	if wan == nil || wan.Error != "the introducer did not answer" || wan.From != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("wan result %+v: want the probe's error", wan)
	}
	var none *prober
	if l, w := none.latest(); l != nil || w != nil {
		t.Error("a daemon without an introducer reports probes")
	}
}

func TestResolveIntroducer(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.10":      "203.0.113.10:3478",
		"203.0.113.10:3479": "203.0.113.10:3479",
		"localhost:5000":    "127.0.0.1:5000",
	} {
		got, err := ResolveIntroducer(context.Background(), in)
		if err != nil || got.String() != want {
			t.Errorf("ResolveIntroducer(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"203.0.113.10:0", "203.0.113.10:99999", "203.0.113.10:x"} {
		if _, err := ResolveIntroducer(context.Background(), bad); err == nil {
			t.Errorf("ResolveIntroducer(%q): no error", bad)
		}
	}
}

// TestProberLANNamespace: the LAN probe runs from the namespace and closes
// it; without one, or when the probe from it fails, it runs from the
// router's LAN address and records why.
func TestProberLANNamespace(t *testing.T) {
	router, inside := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.254")
	for _, tt := range []struct {
		name       string
		openErr    error
		failInside bool // the introducer does not answer the namespace
		enterErr   error
		wantFrom   netip.Addr
		wantNetns  bool
		wantErr    string
	}{
		{name: "namespace", wantFrom: inside, wantNetns: true},
		{name: "no veth", openErr: errNoVeth, wantFrom: router, wantErr: "veth unavailable (install kmod-veth)"},
		{name: "no answer inside stands", failInside: true, wantFrom: inside, wantNetns: true},
		{name: "no socket inside", enterErr: errors.New("setns: bad file descriptor"), wantFrom: router,
			wantErr: "the probe from it failed: setns: bad file descriptor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			closed := 0
			p := &prober{introducer: "203.0.113.10:3478",
				lanFrom: func() netip.Addr { return router },
				netns: func(context.Context) (*vantage, error) {
					if tt.openErr != nil {
						return nil, tt.openErr
					}
					return &vantage{addr: inside, enter: func(f func() error) error {
						if tt.enterErr != nil {
							return tt.enterErr
						}
						return f()
					},
						close: func() error { closed++; return nil }}, nil
				},
				run: func(_ context.Context, cfg probe.Config) (*probe.Report, error) {
					if (cfg.Enter != nil) != (cfg.Local == inside) {
						t.Errorf("probe from %s with Enter %v", cfg.Local, cfg.Enter != nil)
					}
					if cfg.Enter != nil {
						if err := cfg.Enter(func() error { return nil }); err != nil {
							return nil, err
						}
						if tt.failInside {
							return nil, errors.New("the introducer did not answer")
						}
					}
					return &probe.Report{}, nil
				}}
			res := p.probeLAN(context.Background(), logx.Discard())
			if res.From != tt.wantFrom || res.Netns != tt.wantNetns || res.NetnsError != tt.wantErr || (res.Report == nil) != tt.failInside {
				t.Errorf("result %+v; want from %s, netns %v, netns error %q", res, tt.wantFrom, tt.wantNetns, tt.wantErr)
			}
			if want := map[bool]int{true: 0, false: 1}[tt.openErr != nil]; closed != want {
				t.Errorf("namespace closed %d times, want %d", closed, want)
			}
		})
	}
}

// TestProberClosesOnPanic: the namespace goes even when the probe from it
// panics.
func TestProberClosesOnPanic(t *testing.T) {
	closed := 0
	p := &prober{introducer: "203.0.113.10:3478",
		netns: func(context.Context) (*vantage, error) {
			return &vantage{addr: netip.MustParseAddr("198.51.100.254"), enter: func(f func() error) error { return f() },
				close: func() error { closed++; return nil }}, nil
		},
		run: func(context.Context, probe.Config) (*probe.Report, error) { panic("probe bug") }}
	func() {
		defer func() { recover() }()
		p.probeLAN(context.Background(), logx.Discard())
	}()
	if closed != 1 {
		t.Errorf("namespace closed %d times after a panic, want 1", closed)
	}
}

// countLog counts warnings and debug lines.
type countLog struct{ warn, debug int }

func (l *countLog) Debug(string, ...any) { l.debug++ }
func (l *countLog) Info(string, ...any)  {}
func (l *countLog) Warn(string, ...any)  { l.warn++ }

// TestProberFallbackWarnsOnce: the same reason for no namespace is a
// warning once, then debug; a new reason warns again.
func TestProberFallbackWarnsOnce(t *testing.T) {
	openErr := errNoVeth
	p := &prober{introducer: "203.0.113.10:3478", lanFrom: func() netip.Addr { return netip.MustParseAddr("198.51.100.1") },
		netns: func(context.Context) (*vantage, error) { return nil, openErr },
		run:   func(context.Context, probe.Config) (*probe.Report, error) { return &probe.Report{}, nil }}
	var log countLog
	for i := 0; i < 3; i++ {
		p.probeLAN(context.Background(), &log)
	}
	openErr = errNoNetns
	p.probeLAN(context.Background(), &log)
	if log.warn != 2 || log.debug != 2 {
		t.Errorf("%d warnings, %d debug lines; want 2 and 2", log.warn, log.debug)
	}
}
