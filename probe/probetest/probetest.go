package probetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/probe/introducer"
)

// Default loopback addresses.
var (
	Primary   = netip.MustParseAddr("127.0.0.1")
	Alternate = netip.MustParseAddr("127.0.0.2")
)

// Introducer is a running in-process introducer.
type Introducer struct {
	*introducer.Server
	// Config is the configuration it runs with (addresses and ports
	// filled in).
	Config introducer.Config
	// Addrs are the UDP (and, with Config.TCP, TCP) addresses served:
	// A1:P1, A1:P2, A2:P1, A2:P2, or only A1:P1 in degraded mode.
	Addrs []netip.AddrPort
}

// Addr returns the address served at IP index ip and port index port
// (0: primary, 1: alternate).
func (in *Introducer) Addr(ip, port int) netip.AddrPort {
	a := [2]netip.Addr{in.Config.Primary, in.Config.Alternate}
	p := [2]uint16{in.Config.Port, in.Config.AltPort}
	return netip.AddrPortFrom(a[ip], p[port])
}

// startTimeout bounds the wait for the server's sockets, and for its
// shutdown in cleanup.
const startTimeout = 10 * time.Second

// Start runs an introducer for t and stops it in t.Cleanup (failing t if
// it does not stop within 10 s). If cfg.Primary is not set it uses
// 127.0.0.1 and 127.0.0.2; set Primary alone for degraded single-IP mode.
// If cfg.Port is not set it picks a free pair of ports (Port, Port+1)
// above or below the ephemeral port range. A nil cfg.Logger logs to t.
func Start(t testing.TB, cfg introducer.Config) *Introducer {
	t.Helper()
	if !cfg.Primary.IsValid() {
		cfg.Primary, cfg.Alternate = Primary, Alternate
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	fixed := cfg.Port != 0
	for attempt := 0; ; attempt++ {
		if !fixed {
			cfg.Port, cfg.AltPort = PickPorts()
		}
		in, err := start(t, cfg)
		if err == nil {
			return in
		}
		if fixed || !errors.Is(err, syscall.EADDRINUSE) || attempt == 20 {
			t.Fatalf("probetest: %v", err)
		}
	}
}

func start(t testing.TB, cfg introducer.Config) (*Introducer, error) {
	s, err := introducer.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	readyc, errc := make(chan []netip.AddrPort, 1), make(chan error, 1)
	go func() { errc <- s.Run(ctx, func(a []netip.AddrPort) { readyc <- a }) }()
	select {
	case addrs := <-readyc:
		t.Cleanup(func() { stop(t, cancel, errc) })
		cfg = withPorts(cfg)
		return &Introducer{Server: s, Config: cfg, Addrs: addrs}, nil
	case err := <-errc:
		cancel()
		return nil, err
	case <-time.After(startTimeout):
		cancel()
		return nil, fmt.Errorf("introducer did not start within %v", startTimeout)
	}
}

// withPorts fills in the default ports, as the server does.
func withPorts(cfg introducer.Config) introducer.Config {
	if cfg.Port == 0 {
		cfg.Port = introducer.DefaultPort
	}
	if cfg.AltPort == 0 {
		cfg.AltPort = introducer.DefaultAltPort
	}
	return cfg
}

func stop(t testing.TB, cancel context.CancelFunc, errc <-chan error) {
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("probetest: introducer: %v", err)
		}
	case <-time.After(startTimeout):
		t.Errorf("probetest: introducer still running %v after cancel", startTimeout)
	}
}

// PickPorts returns a random even port and the next one, outside the
// ephemeral range (net.ipv4.ip_local_port_range; Linux default
// 32768-60999), so client sockets bound to port 0 never collide with
// them. Another test may still hold them: retry on EADDRINUSE.
func PickPorts() (uint16, uint16) {
	lo, hi := ephemeralRange()
	var from, to int // candidate range [from, to)
	if 65535-hi >= 1000 {
		from, to = hi+1, 65535
	} else {
		from, to = 20000, lo
	}
	p := from + rand.IntN((to-from)/2)*2
	return uint16(p), uint16(p + 1)
}

func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi)
	}
	return lo, hi
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
