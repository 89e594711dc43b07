package introducer_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
)

// runServer runs cfg on free ports of 127.0.0.1/127.0.0.2 until the
// returned cancel func is called; done receives Run's result.
func runServer(t *testing.T, cfg introducer.Config) (cfgOut introducer.Config, addrs []netip.AddrPort,
	cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cfg.Primary, cfg.Alternate = probetest.Primary, probetest.Alternate
	for attempt := 0; attempt < 20; attempt++ {
		cfg.Port, cfg.AltPort = probetest.PickPorts()
		s, err := introducer.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc, ready := make(chan error, 1), make(chan []netip.AddrPort, 1)
		go func() { errc <- s.Run(ctx, func(a []netip.AddrPort) { ready <- a }) }()
		select {
		case a := <-ready:
			return cfg, a, cancel, errc
		case err := <-errc:
			cancel()
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("no free ports")
	return
}

// TestShutdown: cancelling returns promptly, closes TCP connections, and
// frees every port.
func TestShutdown(t *testing.T) {
	_, addrs, cancel, done := runServer(t, introducer.Config{TCP: true})
	idle := dialTCP(t, addrs[0])
	busy := dialTCP(t, addrs[1])
	exchangeTCP(t, busy, request())
	busy.Write(request()[:10]) // a request cut in the middle
	cancelAndWait(t, cancel, done, 1500*time.Millisecond)
	for _, c := range []*net.TCPConn{idle, busy} {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("TCP connection still open after shutdown")
		}
	}
	for _, a := range addrs {
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
		if err != nil {
			t.Fatalf("UDP port not freed: %v", err)
		}
		u.Close()
		l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(a))
		if err != nil {
			t.Fatalf("TCP port not freed: %v", err)
		}
		l.Close()
	}
}

// TestShutdownUnderLoad: the UDP readers stop promptly while requests
// keep coming, and every port is freed.
func TestShutdownUnderLoad(t *testing.T) {
	_, addrs, cancel, done := runServer(t, introducer.Config{Rate: -1})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range addrs {
		c := dial(t, "127.0.0.1:0")
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := request()
			for {
				select {
				case <-stop:
					return
				default:
					c.conn.WriteToUDPAddrPort(b, a) // errors do not matter here
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(100 * time.Millisecond)
	cancelAndWait(t, cancel, done, time.Second)
	for _, a := range addrs {
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
		if err != nil {
			t.Fatalf("UDP port not freed: %v", err)
		}
		u.Close()
	}
}

// TestBindError: a taken port makes Run fail at once, binding nothing.
func TestBindError(t *testing.T) {
	cfg, addrs, cancel, done := runServer(t, introducer.Config{})
	defer func() { cancel(); <-done }()
	s, err := introducer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background(), func([]netip.AddrPort) { t.Error("ready called") })
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "introducer: listen udp4 "+addrs[0].String()) {
		t.Errorf("Run: %v, want EADDRINUSE on %v", err, addrs[0])
	}
	if err := s.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run: %v", err)
	}
}

// syncBuffer is a goroutine-safe log buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSummaryLog checks the one-line summary (counts of the interval)
// against a golden line.
func TestSummaryLog(t *testing.T) {
	var logs syncBuffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: noTime}))
	_, addrs, cancel, done := runServer(t, introducer.Config{SummaryEvery: 300 * time.Millisecond, Logger: log})
	c := dial(t, "127.0.0.1:0")
	c.exchange(addrs[0], request())
	c.exchange(addrs[0], request(change(7), padding(8), respPort(9)))
	c.send(addrs[0], []byte("junk"))
	re := regexp.MustCompile(`level=INFO msg=summary component=introducer requests=\d+ .*\n`)
	deadline := time.Now().Add(3 * time.Second)
	for !re.MatchString(logs.String()) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	const want = "level=INFO msg=summary component=introducer requests=2 responses=1 errors=1 dropped=1 " +
		"rate_limited=0 global_limited=0 send_errors=0 tcp_conns=0 tcp_refused=0 sources=1\n"
	if got := re.FindString(logs.String()); got != want {
		t.Errorf("summary line:\n got %q\nwant %q\nall logs:\n%s", got, want, logs.String())
	}
}

// cancelAndWait cancels a running server: Run must return without an
// error within limit.
func cancelAndWait(t *testing.T, cancel func(), done <-chan error, limit time.Duration) {
	t.Helper()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run still running 3 s after cancel")
	}
	if d := time.Since(start); d > limit {
		t.Errorf("shutdown took %v", d)
	}
}
