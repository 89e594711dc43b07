//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/probe/stun"
)

// Load generator parameters: clients in a closed loop, each waiting for
// its answer (or a short timeout) before the next request.
const (
	loadClients  = 32
	loadDuration = 3 * time.Second
	loadTimeout  = 100 * time.Millisecond
)

// benchIntroducer drives natp2p-introducer and coturn's turnserver
// --stun-only, one after the other on the same lab addresses, with the
// same closed-loop load generator, and prints answered Binding requests
// per second.
func benchIntroducer(ctx context.Context, w io.Writer, introducerBin string, runs int) error {
	fmt.Fprintf(w, "introducer: answered Binding requests per second, %d clients in a closed loop for %v, %d runs each\n\n",
		loadClients, loadDuration, runs)
	fmt.Fprintf(w, "%-34s %12s %12s %12s\n", "server", "median/s", "min/s", "max/s")
	servers := []struct {
		name  string
		start func(ctx context.Context, l *lab.Lab) error
	}{
		{"natp2p-introducer (no rate limit)", func(ctx context.Context, l *lab.Lab) error {
			return l.StartIntroducer(ctx, introducerBin, "--log-level", "warn", "--rate", "-1")
		}},
		{"natp2p-introducer (default limit)", func(ctx context.Context, l *lab.Lab) error {
			return l.StartIntroducer(ctx, introducerBin, "--log-level", "warn")
		}},
		{"turnserver --stun-only (coturn)", func(ctx context.Context, l *lab.Lab) error { return l.StartCoturn(ctx) }},
	}
	for _, s := range servers {
		rates, err := loadRuns(ctx, s.start, runs)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(w, "%-34s %12.0f %12.0f %12.0f\n", s.name, rates[len(rates)/2], rates[0], rates[len(rates)-1])
	}
	return nil
}

func loadRuns(ctx context.Context, start func(context.Context, *lab.Lab) error, runs int) ([]float64, error) {
	var rates []float64
	for i := 0; i < runs; i++ {
		l, err := lab.New(ctx, lab.Config{})
		if err != nil {
			return nil, err
		}
		if err := start(ctx, l); err != nil {
			l.Close()
			return nil, err
		}
		var rate float64
		err = l.WAN.Do(func() error {
			var err error
			rate, err = load(netip.AddrPortFrom(l.ServerAddrs[0], 3478))
			return err
		})
		l.Close()
		if err != nil {
			return nil, err
		}
		rates = append(rates, rate)
	}
	slices.Sort(rates)
	return rates, nil
}

// load runs the clients against server and returns answers per second.
// It must run on the namespace's thread (NS.Do): the sockets are opened
// here, before the goroutines that use them, which may run on any thread.
func load(server netip.AddrPort) (float64, error) {
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < loadClients; i++ {
		conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(server))
		if err != nil {
			return 0, err
		}
		conns = append(conns, conn)
	}
	var answered atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, loadClients)
	deadline := time.Now().Add(loadDuration)
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(conn, deadline, &answered); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(answered.Load()) / loadDuration.Seconds(), nil
}

func client(conn *net.UDPConn, deadline time.Time, answered *atomic.Int64) error {
	buf := make([]byte, stun.MaxMessageSize)
	for time.Now().Before(deadline) {
		req := &stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID()}
		if _, err := conn.Write(req.Marshal(true)); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(loadTimeout))
		if n, err := conn.Read(buf); err == nil && n >= stun.HeaderSize {
			answered.Add(1)
		}
	}
	return nil
}
