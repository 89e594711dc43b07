package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

// DefaultProbeInterval is how often the daemon probes when
// Config.ProbeInterval is zero.
const DefaultProbeInterval = 30 * time.Minute

// probeJitter spreads a fleet's probes: each interval is ±10% at random.
const probeJitter = 0.1

// prober runs the daemon's probes from two vantage points and keeps the
// latest results.
//
// The LAN vantage sends from the router's LAN address: its packets leave
// through the same source NAT as a LAN host's, so mapping, port
// preservation, ALG and TCP mapping describe this router (and anything
// upstream); its answers pass the router's input path, not the forward
// path, which applies the same connection-state filtering on OpenWrt.
// It cannot see hairpinning as a LAN host does (the router's own packets
// never enter through the LAN interface), so that stays with
// `natp2p-agent probe` run on a LAN host.
//
// The WAN vantage sends from the WAN address: its packets skip this
// router's NAT and describe only what lies upstream (a carrier NAT).
type prober struct {
	introducer string // host[:port]
	every      time.Duration
	lanFrom    func() netip.Addr
	wanFrom    func() netip.Addr
	run        func(ctx context.Context, cfg probe.Config) (*probe.Report, error)

	mu       sync.Mutex
	lan, wan *report.ProbeResult
}

func (p *prober) loop(ctx context.Context, log logger) {
	for {
		p.probeBoth(ctx, log)
		wait := time.Duration(float64(p.every) * (1 + probeJitter*(2*rand.Float64()-1)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

type logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

func (p *prober) probeBoth(ctx context.Context, log logger) {
	lan := p.once(ctx, log, "lan", p.lanFrom())
	wan := p.once(ctx, log, "wan", p.wanFrom())
	if lan != nil && wan != nil {
		probe.Attribute(lan.Report, wan.Report, wan.From)
	}
	p.mu.Lock()
	p.lan, p.wan = lan, wan
	p.mu.Unlock()
}

// once probes from one vantage point; nil when it cannot.
func (p *prober) once(ctx context.Context, log logger, vantage string, from netip.Addr) *report.ProbeResult {
	res := &report.ProbeResult{Vantage: vantage, From: from}
	if !from.IsValid() {
		res.Error = "no " + vantage + " address to probe from (set probe_from or --probe-from)"
		log.Warn("probe skipped", "vantage", vantage, "err", res.Error)
		return res
	}
	to, err := ResolveIntroducer(ctx, p.introducer)
	if err != nil {
		res.Error = err.Error()
		log.Warn("probe skipped", "vantage", vantage, "err", err)
		return res
	}
	r, err := p.run(ctx, probe.Config{Introducer: to, Local: from})
	if err != nil {
		res.Error = err.Error()
		log.Warn("probe failed", "vantage", vantage, "from", from, "err", err)
		return res
	}
	res.Report = r
	log.Info("probe", "vantage", vantage, "from", from, "public", r.Public, "mapping", r.Mapping,
		"filtering", r.Filtering, "tcp_mapping", r.TCPMapping, "duration", r.Duration.Round(time.Millisecond))
	return res
}

func (p *prober) latest() (lan, wan *report.ProbeResult) {
	if p == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lan, p.wan
}

// runProbe runs one probe with a fresh client.
func runProbe(ctx context.Context, cfg probe.Config) (*probe.Report, error) {
	c, err := probe.New(cfg)
	if err != nil {
		return nil, err
	}
	return c.Run(ctx)
}

// IntroducerPort is the STUN port (RFC 8489 18.4), the introducer's default.
const IntroducerPort = "3478"

// ResolveIntroducer turns host[:port] into the introducer's IPv4 address
// and port.
func ResolveIntroducer(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, IntroducerPort
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}, fmt.Errorf("introducer %q: bad port", hostport)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(n)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("introducer %q: cannot resolve %s: %v", hostport, host, err)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(n)), nil
}
