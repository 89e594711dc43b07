package introducer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// shutdownGrace bounds how long in-flight TCP responses may take once
// Run's context is done.
const shutdownGrace = time.Second

// Server is an RFC 5780 STUN server. Create it with New and serve with
// Run; Stats may be called at any time, from any goroutine.
type Server struct {
	cfg     Config
	h       handler
	limit   *limiter
	replies *budget // the global bound on UDP replies
	stats   counters
	log     *slog.Logger
	now     func() time.Time // test seam for the rate limiter's clock
	running atomic.Bool
}

// New validates cfg and returns a Server. It opens no socket.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("introducer: %w", err)
	}
	now := time.Now
	return &Server{
		cfg:     cfg,
		h:       handler{plan: newPlan(cfg), software: []byte(cfg.Software)},
		limit:   newLimiter(cfg.Rate, cfg.Burst, cfg.MaxSources, now()),
		replies: newBudget(cfg.GlobalRate, now()),
		log:     cfg.Logger.With("component", "introducer"),
		now:     now,
	}, nil
}

// Config returns the configuration the server runs with, its zero values
// replaced by the defaults.
func (s *Server) Config() Config { return s.cfg }

// Degraded reports whether the server runs in RFC 5780 degraded
// single-IP mode (no Alternate address).
func (s *Server) Degraded() bool { return s.h.plan.degraded() }

// Stats returns the counters. Safe concurrently with Run.
func (s *Server) Stats() Stats {
	st := s.stats.load()
	st.Sources = s.limit.sources()
	return st
}

// Run binds the UDP sockets (Primary and Alternate x Port and AltPort:
// four, or one in degraded mode) and, with Config.TCP, TCP listeners on
// the same addresses, calls ready (if not nil) with the UDP addresses,
// and serves until ctx is done. It then closes every socket, gives
// in-flight TCP responses up to a second, and returns nil. It returns an
// error only when it cannot bind; it may be called once.
func (s *Server) Run(ctx context.Context, ready func(addrs []netip.AddrPort)) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("introducer: Run called twice")
	}
	socks, err := s.listen(ctx)
	if err != nil {
		return err
	}
	s.logStart(socks)
	if ready != nil {
		ready(socks.addrs())
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	s.start(&wg, socks, done)
	<-ctx.Done()
	close(done)
	socks.stop(shutdownGrace)
	wg.Wait()
	socks.release()
	s.log.Info("stopped", s.Stats().logAttrs()...)
	return nil
}

// start launches the readers of every socket and the summary ticker. A
// UDP socket gets one reader per CPU: they block in recvfrom on the one
// socket, each with its own buffers (the kernel wakes one per datagram),
// so a busy primary address uses every core.
func (s *Server) start(wg *sync.WaitGroup, socks *sockets, done <-chan struct{}) {
	for _, u := range socks.udp {
		for i := 0; i < runtime.GOMAXPROCS(0); i++ {
			wg.Add(1)
			go func() { defer wg.Done(); s.serveUDP(socks, u) }()
		}
	}
	for _, t := range socks.tcp {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveTCP(wg, socks.conns, t) }()
	}
	if s.cfg.SummaryEvery > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.summarize(done) }()
	}
}

func (s *Server) logStart(socks *sockets) {
	s.log.Info("serving", "udp", socks.addrs(), "tcp", s.cfg.TCP, "rate", s.cfg.Rate,
		"burst", s.cfg.Burst, "max_sources", s.cfg.MaxSources, "global_rate", s.cfg.GlobalRate,
		"tcp_conns", s.cfg.TCPConns, "tcp_conns_per_source", s.cfg.TCPConnsPerSource,
		"tcp_life", s.cfg.TCPLife, "tcp_requests", s.cfg.TCPRequests)
	if s.Degraded() {
		s.log.Warn("degraded single-IP mode (no alternate address): no OTHER-ADDRESS, " +
			"CHANGE-REQUEST gets 420 (RFC 5780 section 6)")
	}
}

// summarize logs one summary line per interval, of the interval's counts.
func (s *Server) summarize(done <-chan struct{}) {
	t := time.NewTicker(s.cfg.SummaryEvery)
	defer t.Stop()
	var last Stats
	for {
		select {
		case <-done:
			return
		case <-t.C:
			st := s.Stats()
			s.log.Info("summary", st.since(last).logAttrs()...)
			last = st
		}
	}
}
