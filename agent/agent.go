package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/metrics"
	"github.com/natp2p/natp2p/report"
)

// DefaultSocket is the control socket's path when Config.Socket is empty.
// On OpenWrt /var/run lives in RAM, as sockets should.
const DefaultSocket = "/var/run/natp2p/agent.sock"

// wanRefresh is how often the agent re-reads the WAN addresses, which
// change with PPP reconnects and DHCP renewals.
const wanRefresh = 5 * time.Second

// summaryEvery is how often the daemon logs its one-line summary.
const summaryEvery = time.Minute

// Config configures the agent. The zero value watches the default route's
// interface and serves DefaultSocket.
type Config struct {
	// WAN is the WAN interface. If empty, the IPv4 default route's.
	WAN string
	// LAN are the LAN interfaces. If empty, every other interface with an
	// IPv4 address.
	LAN []string
	// Socket is the control socket's path. If empty, DefaultSocket.
	Socket string
	// ReadBuffer is the conntrack event socket's receive buffer. If zero,
	// DefaultReadBuffer.
	ReadBuffer int
	// System reads procfs and sysfs.
	System System
	// Logger receives the daemon's logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Introducer is the RFC 5780 server the daemon probes, host[:port],
	// resolved before each probe. If empty, the daemon does not probe and
	// the probe's checks say UNKNOWN.
	Introducer string
	// ProbeInterval is how often to probe. If zero, DefaultProbeInterval.
	ProbeInterval time.Duration
	// ProbeFrom is the router's LAN-side address to probe from when there
	// is no LAN-side namespace. If invalid, the first IPv4 address of the
	// first LAN interface. The namespace joins the LAN interface that holds
	// it.
	ProbeFrom netip.Addr
	// NoProbeNetns probes from ProbeFrom only, without the LAN-side
	// namespace (which measures hairpinning too).
	NoProbeNetns bool
	// ProbeNetnsAddr is the LAN-side namespace's address, in the LAN
	// prefix. If invalid, the highest address of the prefix that neither
	// the router nor a neighbour uses.
	ProbeNetnsAddr netip.Addr
	// Enforce, if non-nil, runs enforce mode; nil observes only.
	Enforce *EnforceConfig
	// MetricsListen is where the daemon answers GET /metrics, ip:port; if
	// empty, it does not listen. MetricsTextfile is a *.prom file, on
	// tmpfs, that it rewrites every minute for node_exporter's textfile
	// collector; if empty, none.
	MetricsListen, MetricsTextfile string
	// MetricsPush is a VictoriaMetrics or vmagent import URL the daemon
	// pushes its metrics to, every MetricsPushInterval (if zero,
	// push.DefaultInterval), with MetricsPushLabels (if nil, instance=the
	// hostname and job=natp2p); if empty, it does not push.
	MetricsPush         string
	MetricsPushInterval time.Duration
	MetricsPushLabels   map[string]string
	// MetricsPushClient is the system client that pushes, one of
	// push.Clients; if empty, the first found.
	MetricsPushClient string
	// Version is natp2p's version, for natp2p_build_info.
	Version string
	// DeviceRoot is the root the device's model and firmware are read
	// under (metrics.ReadDevice); if empty, "/".
	DeviceRoot string
}

// Agent watches the router's NAT and reports on it.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	host   string
	lan    []report.Interface
	wan    atomic.Pointer[report.Interface]
	table  *conntrackmap.Table
	source flowSource
	saved  *SavedSnapshot // the router state, when reporting on a saved snapshot
	replay *report.Report // the report served as it is (Replay)
	prober *prober        // nil without an introducer
	// enforcer pins mappings in enforce mode; nil in observe mode.
	enforcer ruleEnforcer
	// preserving: the iptables backend masquerades LAN flows without a pin
	// itself, keeping their ports.
	preserving bool
	device     metrics.Device // for natp2p_device_info
	wanRead    wanRead        // refreshWAN's state
	hooks      hooks          // how Run reaches the router besides source and enforcer
	lanNets    []netip.Prefix
	filter     Filter // the source's
	// replies looks up which hairpinned flows got a reply (repliedNow);
	// nil where the kernel cannot be asked.
	replies func([]conntrackmap.HairpinFlow, Filter) []conntrackmap.Flow
}

// New checks the configuration and finds the interfaces. It opens no
// socket.
func New(cfg Config) (*Agent, error) {
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = logx.Discard()
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, hooks: kernelHooks(), replies: repliedNow, device: metrics.ReadDevice(cfg.DeviceRoot)}
	a.host, _ = os.Hostname()
	if err := a.findInterfaces(); err != nil {
		return nil, err
	}
	a.table = conntrackmap.New(conntrackmap.Config{Now: cfg.Now})
	a.setupProber()
	if err := a.setupEnforcer(); err != nil {
		return nil, err
	}
	a.filter = Filter{Public: a.isPublic, LAN: a.isLAN}
	sc := SourceConfig{ReadBuffer: cfg.ReadBuffer, Filter: a.filter, Logger: cfg.Logger}
	if a.enforcer != nil {
		sc.OnEvents, sc.OnFill, sc.Updates = enforcerEvents(a.enforcer.Events), a.enforcer.Resynced, true
		if cfg.Enforce.Hairpin {
			sc.Filter.Missed = a.enforcer.Missed
		}
	}
	a.source = NewSource(sc)
	return a, nil
}

func (a *Agent) findInterfaces() error {
	if a.cfg.WAN == "" {
		name, err := a.cfg.System.DefaultRouteInterface()
		if err != nil {
			return err
		}
		a.cfg.WAN = name
	}
	wan, err := Interface(a.cfg.WAN)
	if err != nil {
		return fmt.Errorf("WAN %w", err)
	}
	a.wan.Store(&wan)
	if err := checkWANNotLAN(a.cfg.WAN, a.cfg.LAN); err != nil {
		return err
	}
	if len(a.cfg.LAN) == 0 {
		var uplinks map[string]string
		a.lan, uplinks = a.cfg.System.LANInterfaces(a.cfg.WAN)
		for _, name := range slices.Sorted(maps.Keys(uplinks)) {
			a.log.Info("not taken for a LAN interface: an uplink", "interface", name, "because", uplinks[name])
		}
	}
	for _, name := range a.cfg.LAN {
		lan, err := Interface(name)
		if err != nil {
			return fmt.Errorf("LAN %w", err)
		}
		a.lan = append(a.lan, lan)
	}
	names := make([]string, len(a.lan))
	for i, l := range a.lan {
		names[i] = l.Name
	}
	a.lanNets = lanNetworks(names)
	return nil
}

// isPublic reports whether addr is a WAN address now.
func (a *Agent) isPublic(addr netip.Addr) bool {
	for _, w := range a.wan.Load().Addrs {
		if w == addr {
			return true
		}
	}
	return false
}

// Table returns the agent's mapping table.
func (a *Agent) Table() *conntrackmap.Table { return a.table }

// Report evaluates the checks on what the agent has seen.
func (a *Agent) Report(source string) report.Report {
	r, _ := a.report(source)
	return r
}

// Snapshot fills the table from one dump, for a report without a daemon.
func (a *Agent) Snapshot(ctx context.Context) error {
	_, err := fill(ctx, a.source, a.table)
	return err
}

// Run serves the control socket and follows conntrack until ctx is done,
// the source fails or the control socket dies (procd then restarts the
// daemon). ready, if non-nil, is closed once the socket answers and the
// first dump is in the table. Every goroutine Run starts has returned
// when it does, and it stops them in phases (see phase): no rule changes
// after Run returns, so cleanup may follow at once.
func (a *Agent) Run(ctx context.Context, ready chan<- struct{}) error {
	if a.replay != nil {
		return a.runReplay(ctx, ready)
	}
	ln, out, err := a.openOutputs()
	if err != nil {
		return err
	}
	// After listen, which refuses a second agent: two would fight over
	// the rules.
	a.removeLeftovers()
	if a.enforcer != nil {
		if err := a.enforcer.Start(); err != nil {
			ln.Close()
			out.close()
			return fmt.Errorf("enforce: %w", err)
		}
	}
	a.warnIfEventsOff()
	a.warnIfNoWANAddr()
	if err := a.hooks.removeVantage(); err != nil {
		a.log.Warn("removing a probe namespace link an earlier run left", "link", vantageLink, "err", err)
	}
	l := newLifecycle(ctx)
	a.start(l, ln, ready)
	a.startMetrics(l, out)
	err = l.Wait()
	a.log.Info("stopped", "flows", a.table.Len())
	return err
}

// start starts the daemon's goroutines in l, each in the phase that stops
// it.
func (a *Agent) start(l *lifecycle, ln net.Listener, ready chan<- struct{}) {
	l.Go(phaseControl, func(ctx context.Context) error {
		defer l.Stop() // a dead control socket stops the daemon, so that procd restarts it
		return a.serve(ctx, ln)
	})
	l.Go(phaseFeed, func(ctx context.Context) error {
		defer l.Stop() // the daemon lives as long as its source
		return a.source.Run(ctx, a.table, ready)
	})
	l.Go(phaseFeed, func(ctx context.Context) error { a.pollWAN(ctx); return nil })
	l.Go(phaseFeed, func(ctx context.Context) error {
		if err := a.hooks.watchAddrs(ctx, a.log, func() { a.refreshWAN() }); err != nil {
			a.log.Warn("cannot watch address changes; polling the WAN every "+wanRefresh.String(), "err", err)
		}
		return nil
	})
	l.Go(phaseFeed, func(ctx context.Context) error { every(ctx, summaryEvery, a.logSummary); return nil })
	if a.enforcer != nil {
		l.Go(phaseEnforce, func(ctx context.Context) error { a.enforcer.Run(ctx); return nil })
	}
	if a.prober != nil {
		l.Go(phaseProbe, func(ctx context.Context) error {
			a.prober.loop(ctx, a.log.With("component", "probe"))
			return nil
		})
	}
}

// every calls fn every d until ctx is done.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// errAlreadyRunning: another agent answers on the socket.
var errAlreadyRunning = errors.New("another natp2p-agent is already running")

// warnIfEventsOff says so when the kernel sends no conntrack events: the
// table then changes only on resyncs.
func (a *Agent) warnIfEventsOff() {
	const name = "net.netfilter.nf_conntrack_events"
	if v, ok := a.cfg.System.Sysctls([]string{name})[name]; ok && v == 0 {
		a.log.Warn("conntrack events are off: the agent sees flows only in dumps; set " + name + "=1")
	}
}

// logSummary logs the daemon's one key=value line.
func (a *Agent) logSummary() {
	s, st := a.table.Summary(), a.source.Stats()
	a.log.Info("summary", "flows_udp", s.UDP.Flows, "flows_tcp", s.TCP.Flows,
		"mappings_udp", s.UDP.Mappings, "mappings_tcp", s.TCP.Mappings,
		"inconsistent_seen", s.UDP.SeenInconsistent+s.TCP.SeenInconsistent,
		"overloaded_seen", s.UDP.SeenOverloaded+s.TCP.SeenOverloaded,
		"events", st.Events, "overflows", st.Overflows, "resyncs", st.Resyncs)
}

// setupProber prepares probing when an introducer is configured.
func (a *Agent) setupProber() {
	if a.cfg.Introducer == "" {
		return
	}
	every := a.cfg.ProbeInterval
	if every <= 0 {
		every = DefaultProbeInterval
	}
	a.prober = &prober{introducer: a.cfg.Introducer, every: every, run: runProbe,
		lanFrom: a.lanVantage, wanFrom: func() netip.Addr { return firstIPv4(a.wan.Load().Addrs) }}
	if !a.cfg.NoProbeNetns {
		a.prober.netns = a.lanNetns
	}
}

// lanNetns opens the LAN-side namespace on the LAN interface that holds
// the router's probe address, in its prefix.
func (a *Agent) lanNetns(ctx context.Context) (*vantage, error) {
	from := a.lanVantage()
	for _, l := range a.lan {
		if p, ok := prefixOf(l.Name, from); ok {
			return openVantage(ctx, l.Name, p, a.cfg.ProbeNetnsAddr)
		}
	}
	return nil, errors.New("no LAN interface holds the address " + from.String())
}

// lanVantage is the address the LAN-side probe sends from.
func (a *Agent) lanVantage() netip.Addr {
	if a.cfg.ProbeFrom.IsValid() {
		return a.cfg.ProbeFrom
	}
	for _, l := range a.lan {
		if addr := firstIPv4(l.Addrs); addr.IsValid() {
			return addr
		}
	}
	return netip.Addr{}
}

func firstIPv4(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}
