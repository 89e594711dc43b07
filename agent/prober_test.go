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
