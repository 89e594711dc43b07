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

	"github.com/natp2p/natp2p/metrics"
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
// The LAN vantage sends from a throwaway network namespace on the LAN
// bridge (see vantage), built for each probe and removed after it: its
// packets take a LAN host's path through the forward chain and the NAT,
// hairpinning included. When no namespace can be built (no veth, the LAN
// interface is no bridge, ...) it sends from the router's LAN address
// instead and records why: those packets leave through the same source NAT
// as a LAN host's, so mapping, port preservation, ALG and TCP mapping
// still describe this router, and their answers pass the input path, which
// applies the same connection-state filtering on OpenWrt; but the router's
// own packets never enter through the LAN interface, so hairpinning stays
// unmeasured.
//
// The WAN vantage sends from the WAN address: its packets skip this
// router's NAT and describe only what lies upstream (a carrier NAT).
type prober struct {
	introducer string // host[:port]
	every      time.Duration
	lanFrom    func() netip.Addr
	wanFrom    func() netip.Addr
	// netns opens the LAN-side namespace for one probe; nil probes from
	// lanFrom only.
	netns func(context.Context) (*vantage, error)
	run   func(ctx context.Context, cfg probe.Config) (*probe.Report, error)

	mu       sync.Mutex
	lan, wan *report.ProbeResult
	// lanStats and wanStats count the probes, for the metrics.
	lanStats, wanStats metrics.ProbeStats
	// fellBack is why the last LAN probe had no namespace: the same
	// reason is logged again at debug level only.
	fellBack string
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
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

func (p *prober) probeBoth(ctx context.Context, log logger) {
	lan := p.probeLAN(ctx, log)
	wan := p.once(ctx, log, "wan", p.wanFrom(), nil)
	if lan != nil && wan != nil {
		probe.Attribute(lan.Report, wan.Report, wan.From)
	}
	p.mu.Lock()
	p.lan, p.wan = lan, wan
	count(&p.lanStats, lan)
	count(&p.wanStats, wan)
	p.mu.Unlock()
}

// count adds a probe's result to its vantage point's counters.
func count(s *metrics.ProbeStats, res *report.ProbeResult) {
	if res == nil {
		return
	}
	s.Runs++
	if res.Report == nil {
		s.Failures++
		return
	}
	s.LastSuccess = res.Report.GeneratedAt
}

// counters returns copies of the probe counters; nil without a prober.
func (p *prober) counters() *metrics.ProbeCounters {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lan, wan := p.lanStats, p.wanStats
	return &metrics.ProbeCounters{LAN: &lan, WAN: &wan}
}

// probeLAN probes from the LAN-side namespace, or from the router's LAN
// address when there is none or it could not create the probe's
// sockets. A probe that ran inside but got no answer stands: the
// introducer would not answer the router either. The namespace lives only
// while its probe runs, and goes also on errors and shutdown.
func (p *prober) probeLAN(ctx context.Context, log logger) *report.ProbeResult {
	if p.netns == nil {
		return p.once(ctx, log, "lan", p.lanFrom(), nil)
	}
	v, err := p.netns(ctx)
	if err == nil {
		res, enterErr := p.fromNetns(ctx, log, v)
		if enterErr == nil || ctx.Err() != nil {
			res.Netns, p.fellBack = true, ""
			return res
		}
		err = fmt.Errorf("the probe from it failed: %w", enterErr)
	}
	if why := err.Error(); why != p.fellBack {
		p.fellBack = why
		log.Warn("no LAN-side namespace: probing from the router's LAN address", "err", err)
	} else {
		log.Debug("no LAN-side namespace: probing from the router's LAN address", "err", err)
	}
	res := p.once(ctx, log, "lan", p.lanFrom(), nil)
	res.NetnsError = err.Error()
	return res
}

// fromNetns probes from the namespace v, and closes it also when the probe
// panics. It returns the first error of v's enter: the namespace could not
// create a socket.
func (p *prober) fromNetns(ctx context.Context, log logger, v *vantage) (*report.ProbeResult, error) {
	defer func() {
		if err := v.close(); err != nil {
			log.Warn("removing the probe's namespace", "link", vantageLink, "err", err)
		}
	}()
	var mu sync.Mutex // the probe creates sockets concurrently
	var failed error
	res := p.once(ctx, log, "lan", v.addr, func(fn func() error) error {
		err := v.enter(fn)
		mu.Lock()
		if failed == nil {
			failed = err
		}
		mu.Unlock()
		return err
	})
	return res, failed
}

// once probes from one vantage point; enter, if non-nil, creates its
// sockets (probe.Config.Enter).
func (p *prober) once(ctx context.Context, log logger, vantage string, from netip.Addr, enter func(func() error) error) *report.ProbeResult {
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
	r, err := p.run(ctx, probe.Config{Introducer: to, Local: from, Enter: enter})
	if err != nil {
		res.Error = err.Error()
		log.Warn("probe failed", "vantage", vantage, "from", from, "err", err)
		return res
	}
	res.Report = r
	log.Info("probe", "vantage", vantage, "from", from, "netns", enter != nil, "public", r.Public, "mapping", r.Mapping,
		"filtering", r.Filtering, "tcp_mapping", r.TCPMapping, "hairpin", optBool(r.Hairpin),
		"duration", r.Duration.Round(time.Millisecond))
	return res
}

// optBool writes a tri-state result for the log.
func optBool(b *bool) string {
	if b == nil {
		return "unknown"
	}
	return strconv.FormatBool(*b)
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
