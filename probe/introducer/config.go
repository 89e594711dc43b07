package introducer

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/natp2p/natp2p/internal/logx"
)

// Defaults of Config's zero values.
const (
	DefaultPort         = 3478
	DefaultAltPort      = 3479
	DefaultRate         = 50
	DefaultBurst        = 100
	DefaultMaxSources   = 65536
	DefaultSummaryEvery = time.Minute
	DefaultSoftware     = "natp2p-introducer"

	DefaultGlobalRate        = 10000
	DefaultTCPConns          = 1024
	DefaultTCPConnsPerSource = 8
	DefaultTCPLife           = 10 * time.Second
	DefaultTCPRequests       = 16
)

// maxSoftware bounds the SOFTWARE value (RFC 8489 14.14 allows up to 128
// characters; a byte bound keeps every response's size bound fixed).
const maxSoftware = 128

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Primary is the server's first IP address (RFC 5780 "A1"). Required;
	// it must be a unicast address of this host (not 0.0.0.0: responses
	// must leave from a known address to fill in RESPONSE-ORIGIN).
	Primary netip.Addr
	// Alternate is the second IP address ("A2"), of the same family. If it
	// is not valid (the zero Addr), the server runs in RFC 5780 degraded
	// single-IP mode (section 6): it serves Primary:Port only, sends no
	// OTHER-ADDRESS and answers every request carrying CHANGE-REQUEST
	// with 420 (Unknown Attribute).
	Alternate netip.Addr
	// Port and AltPort are the two ports ("P1", "P2"). Zero means 3478
	// and 3479.
	Port, AltPort uint16
	// TCP also serves Binding over TCP on every address:port served over
	// UDP (RFC 8489 6.2.2). Over TCP the response cannot leave from
	// another address, so CHANGE-REQUEST with a flag set, and
	// RESPONSE-PORT, get 420.
	TCP bool
	// Rate is the number of requests per second each source may make
	// (a token bucket per IPv4 address or IPv6 /64). Zero means 50;
	// negative disables rate limiting.
	Rate float64
	// Burst is the bucket size. Zero means 100.
	Burst int
	// MaxSources bounds the sources the rate limiter tracks; beyond it the
	// least recently seen source is forgotten (and starts again with a
	// full bucket), so memory stays bounded under a flood of spoofed
	// sources (about 64 bytes each, plus the map). Zero means 65536.
	MaxSources int
	// GlobalRate bounds the UDP replies per second the server sends in
	// total, whatever their sources, so that a flood from spoofed sources
	// (each within its own Rate) reflects at most GlobalRate replies a
	// second: a token bucket of GlobalRate/10 replies (a tenth of a
	// second), shared by every UDP socket. Requests over it are dropped
	// and counted (Stats.GlobalLimited). TCP replies do not count: a TCP
	// client cannot spoof its address. Zero means 10000, or no bound when
	// Rate is negative (rate limiting off); negative means no bound.
	GlobalRate float64
	// TCPConns bounds the concurrent TCP connections; a connection beyond
	// it is closed at once. Zero means 1024.
	TCPConns int
	// TCPConnsPerSource bounds the concurrent TCP connections of one
	// source (IPv4 address or IPv6 /64), so that one address cannot hold
	// every slot. Zero means 8.
	TCPConnsPerSource int
	// TCPLife is how long a TCP connection may live from its accept,
	// whatever it sends: an absolute deadline, which neither a slow
	// request nor a steady trickle of them extends. Zero means 10 s.
	TCPLife time.Duration
	// TCPRequests is the number of requests a TCP connection may make;
	// the server closes it after answering the last. Zero means 16.
	TCPRequests int
	// SummaryEvery is the interval of the one-line summary log (requests,
	// responses, drops, rate limiting, sources). Zero means one minute;
	// negative disables the summary.
	SummaryEvery time.Duration
	// Software is the SOFTWARE attribute of every response, at most 128
	// bytes of UTF-8. Empty means "natp2p-introducer".
	Software string
	// Logger receives the start, summary and shutdown lines. If nil, logs
	// are discarded. Nothing is logged per packet.
	Logger *slog.Logger
}

// withDefaults fills in the zero values.
func (c Config) withDefaults() Config {
	c.Primary, c.Alternate = c.Primary.Unmap(), c.Alternate.Unmap()
	c.Port = orDefault(c.Port, DefaultPort)
	c.AltPort = orDefault(c.AltPort, DefaultAltPort)
	c.Rate = orDefault(c.Rate, DefaultRate)
	c.Burst = orDefault(c.Burst, DefaultBurst)
	c.MaxSources = orDefault(c.MaxSources, DefaultMaxSources)
	c.SummaryEvery = orDefault(c.SummaryEvery, DefaultSummaryEvery)
	c.Software = orDefault(c.Software, DefaultSoftware)
	if c.GlobalRate == 0 && c.Rate < 0 {
		c.GlobalRate = -1
	}
	c.GlobalRate = orDefault(c.GlobalRate, DefaultGlobalRate)
	c.TCPConns = orDefault(c.TCPConns, DefaultTCPConns)
	c.TCPConnsPerSource = orDefault(c.TCPConnsPerSource, DefaultTCPConnsPerSource)
	c.TCPLife = orDefault(c.TCPLife, DefaultTCPLife)
	c.TCPRequests = orDefault(c.TCPRequests, DefaultTCPRequests)
	if c.Logger == nil {
		c.Logger = logx.Discard()
	}
	return c
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validate checks a Config with defaults filled in.
func (c Config) validate() error {
	if err := checkAddr("Primary", c.Primary); err != nil {
		return err
	}
	if err := c.validateAlternate(); err != nil {
		return err
	}
	switch {
	case c.Port == c.AltPort:
		return fmt.Errorf("Port and AltPort are both %d: RFC 5780 needs two ports", c.Port)
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("Rate %v is not a number of requests per second", c.Rate)
	case c.Burst < 0:
		return fmt.Errorf("negative Burst %d", c.Burst)
	case c.MaxSources < 0:
		return fmt.Errorf("negative MaxSources %d", c.MaxSources)
	case len(c.Software) > maxSoftware || !utf8.ValidString(c.Software):
		return fmt.Errorf("Software must be at most %d bytes of UTF-8", maxSoftware)
	}
	return c.validateLimits()
}

// validateLimits checks the global and TCP limits.
func (c Config) validateLimits() error {
	switch {
	case math.IsNaN(c.GlobalRate) || math.IsInf(c.GlobalRate, 0):
		return fmt.Errorf("GlobalRate %v is not a number of replies per second", c.GlobalRate)
	case c.TCPConns < 0 || c.TCPConnsPerSource < 0 || c.TCPRequests < 0:
		return fmt.Errorf("negative TCPConns %d, TCPConnsPerSource %d or TCPRequests %d",
			c.TCPConns, c.TCPConnsPerSource, c.TCPRequests)
	case c.TCPLife < 0:
		return fmt.Errorf("negative TCPLife %v", c.TCPLife)
	}
	return nil
}

func (c Config) validateAlternate() error {
	if !c.Alternate.IsValid() {
		return nil
	}
	if err := checkAddr("Alternate", c.Alternate); err != nil {
		return err
	}
	switch {
	case c.Alternate == c.Primary:
		return fmt.Errorf("Alternate %v is the Primary address: RFC 5780 needs two addresses", c.Alternate)
	case c.Alternate.Is4() != c.Primary.Is4():
		return fmt.Errorf("Primary %v and Alternate %v are of different families", c.Primary, c.Alternate)
	}
	return nil
}

func checkAddr(field string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New(field + " address required")
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("%s %v: need a unicast address of this host", field, a)
	}
	return nil
}
