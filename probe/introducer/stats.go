package introducer

import (
	"log/slog"
	"sync/atomic"
)

// Stats are a Server's counters since it was created.
type Stats struct {
	Received    uint64 // datagrams and TCP messages read
	Requests    uint64 // Binding requests past the rate limit, handled
	Responses   uint64 // Binding success responses sent
	Errors      uint64 // Binding error responses sent (400, 420)
	Dropped     uint64 // ignored: non-STUN, malformed, not a Binding request
	RateLimited uint64 // Binding requests (or TCP connections) over a source's rate
	// GlobalLimited counts UDP Binding requests within their source's
	// rate but over the global bound on replies (Config.GlobalRate).
	GlobalLimited uint64
	SendErrors    uint64 // responses the kernel did not take
	TCPConns      uint64 // TCP connections accepted
	// TCPRefused counts TCP connections closed at once because their
	// source (Config.TCPConnsPerSource) or the server (Config.TCPConns)
	// had as many as it may.
	TCPRefused uint64
	Sources    int // sources the rate limiter tracks now
}

// counters are the live Stats (atomics first, as the style asks).
type counters struct {
	received, requests, responses, errors atomic.Uint64
	dropped, rateLimited, sendErrors      atomic.Uint64
	globalLimited, tcpConns, tcpRefused   atomic.Uint64
}

func (c *counters) load() Stats {
	return Stats{
		Received: c.received.Load(), Requests: c.requests.Load(),
		Responses: c.responses.Load(), Errors: c.errors.Load(),
		Dropped: c.dropped.Load(), RateLimited: c.rateLimited.Load(),
		SendErrors: c.sendErrors.Load(), TCPConns: c.tcpConns.Load(),
		GlobalLimited: c.globalLimited.Load(), TCPRefused: c.tcpRefused.Load(),
	}
}

// count records a handled request's outcome.
func (c *counters) count(o outcome) {
	switch o {
	case answered:
		c.requests.Add(1)
		c.responses.Add(1)
	case rejected:
		c.requests.Add(1)
		c.errors.Add(1)
	default:
		c.dropped.Add(1)
	}
}

// since returns the counters' growth from old; Sources is s's.
func (s Stats) since(old Stats) Stats {
	return Stats{
		Received: s.Received - old.Received, Requests: s.Requests - old.Requests,
		Responses: s.Responses - old.Responses, Errors: s.Errors - old.Errors,
		Dropped: s.Dropped - old.Dropped, RateLimited: s.RateLimited - old.RateLimited,
		SendErrors: s.SendErrors - old.SendErrors, TCPConns: s.TCPConns - old.TCPConns,
		GlobalLimited: s.GlobalLimited - old.GlobalLimited, TCPRefused: s.TCPRefused - old.TCPRefused,
		Sources: s.Sources,
	}
}

// logAttrs are the summary line's fields.
func (s Stats) logAttrs() []any {
	return []any{
		slog.Uint64("requests", s.Requests), slog.Uint64("responses", s.Responses),
		slog.Uint64("errors", s.Errors), slog.Uint64("dropped", s.Dropped),
		slog.Uint64("rate_limited", s.RateLimited), slog.Uint64("global_limited", s.GlobalLimited),
		slog.Uint64("send_errors", s.SendErrors), slog.Uint64("tcp_conns", s.TCPConns),
		slog.Uint64("tcp_refused", s.TCPRefused), slog.Int("sources", s.Sources),
	}
}
