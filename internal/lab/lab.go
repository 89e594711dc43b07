//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// NAT is a NAT profile the lab router can run.
type NAT string

// NAT profiles.
const (
	// Masquerade is `oifname "wan0" masquerade`.
	Masquerade NAT = "masquerade"
	// MasqueradeFullyRandom is `masquerade fully-random`
	// (iptables: --random-fully).
	MasqueradeFullyRandom NAT = "masquerade-fully-random"
	// SNATPool is `snat to 203.0.113.1-203.0.113.2`, both addresses on
	// wan0. Linux picks the pool address per flow from a hash of the source
	// and destination IPs, so one private host can get different public IPs
	// for different destinations.
	SNATPool NAT = "snat-pool"
	// NoNAT is plain routing: no NAT rules (conntrack is still enabled in
	// the router), and the WAN host routes 198.51.100.0/24 via the router.
	NoNAT NAT = "none"
	// DMZ is Masquerade plus OpenWrt's "DMZ host": every inbound UDP and
	// TCP packet that matches no connection goes to the first LAN host,
	// port unchanged. Masquerade keeps that host's ports, so its mappings
	// are endpoint-independent and so is its filtering.
	DMZ NAT = "dmz"
	// DoubleNAT puts a carrier-grade NAT between the router and the
	// internet: the router's WAN is 100.64.0.2/24 behind a CGN namespace
	// (100.64.0.1 inside, 203.0.113.1 outside) that masquerades
	// fully-random, as many CGNs allocate ports; the router masquerades too.
	DoubleNAT NAT = "double-nat"
)

// Backend selects the firewall tool used to install the NAT rules.
type Backend string

// Backends.
const (
	Nftables Backend = "nftables"
	Iptables Backend = "iptables"
)

// Config describes a lab. The zero value is a masquerading nftables router
// with two LAN hosts.
type Config struct {
	NAT      NAT     // zero value means Masquerade
	Backend  Backend // zero value means Nftables
	LANHosts int     // number of LAN hosts (1..200); zero means 2
	// Flavour, with Backend Iptables, is the iptables flavour the
	// router's rules are made with: New fails unless `iptables` in PATH is
	// it (Flavour.Dir; labtest.UseFlavour). Zero: whatever PATH has.
	Flavour Flavour
	// Second, if non-nil, makes a two-router lab: a second router with a
	// LAN of its own (192.0.2.0/24) on the same WAN, whose WAN host also
	// holds a TURN relay's address (see Lab.Second, Lab.StartTURN). Both
	// routers then drop new inbound traffic on their WAN, as OpenWrt's
	// firewall does. A two-router lab takes only the Masquerade and
	// MasqueradeFullyRandom profiles, on either router. UDPTimeout applies
	// to both routers.
	Second *SiteConfig
	// UDPTimeout, if non-zero, sets net.netfilter.nf_conntrack_udp_timeout
	// and nf_conntrack_udp_timeout_stream in the router namespace
	// (seconds). Zero leaves the kernel defaults (30/120).
	UDPTimeout int
	// BridgeNetfilter passes the router's bridged IPv4 traffic through its
	// iptables and nftables hooks (br_netfilter's
	// net.bridge.bridge-nf-call-iptables=1, as on Debian-based routers and
	// anything running docker). Off: a plain bridge, as on OpenWrt. On
	// needs br_netfilter loaded. It applies to both routers of a
	// two-router lab.
	BridgeNetfilter bool
	// ForwardDropLAN makes the router's forward chain drop traffic between
	// its LAN bridges (client isolation): br-lan to br-lan, and to and from
	// the bridges of AddLANBridge.
	ForwardDropLAN bool
	// WANFilter is the router's filter of new connections from the WAN,
	// in the tool of Backend; the zero value filters nothing. A filter
	// answers every refusal (net.ipv4.icmp_ratelimit=0 in the router).
	WANFilter WANFilter
	// Logf, if non-nil, receives one line per command run.
	Logf func(format string, args ...any)
}

// Fixed addressing of every lab.
var (
	routerLAN   = netip.MustParseAddr("198.51.100.1")
	routerWAN   = netip.MustParseAddr("203.0.113.1")
	cgnInside   = netip.MustParseAddr("100.64.0.1")
	routerCGN   = netip.MustParseAddr("100.64.0.2")
	routerWAN2  = netip.MustParseAddr("203.0.113.2")
	serverAddrs = []netip.Addr{
		netip.MustParseAddr("203.0.113.10"),
		netip.MustParseAddr("203.0.113.11"),
	}
	lanNet = netip.MustParsePrefix("198.51.100.0/24")
)

const (
	lanIface = "br-lan"
	wanIface = "wan0"
	maxLAN   = 200
)

// Lab is a running laboratory. Build it with New and always Close it.
type Lab struct {
	Router *NS   // router: LANIface (198.51.100.1/24) and WANIface (203.0.113.1/24)
	LAN    []*NS // LAN hosts: eth0 198.51.100.10, .11, ... default via 198.51.100.1
	WAN    *NS   // "internet" host: eth0 with 203.0.113.10/24 and 203.0.113.11/24

	RouterLAN   netip.Addr   // 198.51.100.1
	RouterWAN   netip.Addr   // 203.0.113.1 (SNATPool also owns 203.0.113.2; DoubleNAT: 100.64.0.2)
	Public      netip.Addr   // what the internet sees: 203.0.113.1
	CGN         *NS          // DoubleNAT's carrier NAT, else nil
	ServerAddrs []netip.Addr // 203.0.113.10, 203.0.113.11
	LANIface    string       // "br-lan", the router's LAN interface
	WANIface    string       // "wan0", the router's WAN interface

	// Second is the second router of a two-router lab (Config.Second),
	// else nil: router 192.0.2.1/24 on its br-lan and 203.0.113.3/24 on its
	// wan0, hosts 192.0.2.10, .11, ...
	Second *Site
	// TURNAddr is the TURN relay's address on the WAN host of a
	// two-router lab (203.0.113.20), else the zero Addr.
	TURNAddr netip.Addr

	cfg     Config
	sites   []*Site // First, then Second if any
	prefix  string
	mu      sync.Mutex
	nss     []*NS    // every namespace created, in creation order
	tmpDirs []string // peers' files, removed on Close
	track   tracker
	procs   []*proc
	wg      sync.WaitGroup // echo server goroutines
	once    sync.Once
	closeEr error
}

// New builds a lab. On any error it tears down whatever it created and
// returns an error naming the failing command and its output.
func New(ctx context.Context, cfg Config) (*Lab, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if err := sweep(ctx, cfg.logf); err != nil {
		cfg.logf("lab: sweep: %v", err)
	}
	if err := cfg.checkFlavour(ctx); err != nil {
		return nil, err
	}
	l := newLab(cfg)
	if err := l.build(ctx); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return l, nil
}

func (c Config) normalize() (Config, error) {
	if c.NAT == "" {
		c.NAT = Masquerade
	}
	if c.Backend == "" {
		c.Backend = Nftables
	}
	if c.LANHosts == 0 {
		c.LANHosts = 2
	}
	if c.Logf == nil {
		c.Logf = discard
	}
	if c.Second != nil {
		second := c.Second.normalize()
		c.Second = &second
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case natRule[c.NAT] == "" && c.NAT != NoNAT:
		return fmt.Errorf("lab: unknown NAT profile %q", c.NAT)
	case c.Backend != Nftables && c.Backend != Iptables:
		return fmt.Errorf("lab: unknown backend %q", c.Backend)
	case c.LANHosts < 1 || c.LANHosts > maxLAN:
		return fmt.Errorf("lab: LANHosts %d out of range 1..%d", c.LANHosts, maxLAN)
	case c.UDPTimeout < 0:
		return fmt.Errorf("lab: negative UDPTimeout %d", c.UDPTimeout)
	case c.WANFilter != WANOpen && wanVerdict[c.WANFilter] == "":
		return fmt.Errorf("lab: unknown WANFilter %q", c.WANFilter)
	case c.Second != nil:
		return c.validateSecond()
	}
	return nil
}

// validateSecond checks a two-router lab's profiles.
func (c Config) validateSecond() error {
	s := c.Second
	for _, n := range []NAT{c.NAT, s.NAT} {
		if n != Masquerade && n != MasqueradeFullyRandom {
			return fmt.Errorf("lab: NAT profile %q in a two-router lab: use %s or %s", n, Masquerade, MasqueradeFullyRandom)
		}
	}
	switch {
	case s.Backend != Nftables && s.Backend != Iptables:
		return fmt.Errorf("lab: unknown backend %q of the second router", s.Backend)
	case s.LANHosts < 1 || s.LANHosts > maxLAN:
		return fmt.Errorf("lab: second router's LANHosts %d out of range 1..%d", s.LANHosts, maxLAN)
	}
	return nil
}

func (c Config) logf(format string, args ...any) { c.Logf(format, args...) }

func newLab(cfg Config) *Lab {
	l := &Lab{
		RouterLAN:   routerLAN,
		RouterWAN:   routerWAN,
		Public:      routerWAN,
		ServerAddrs: append([]netip.Addr(nil), serverAddrs...),
		LANIface:    lanIface,
		WANIface:    wanIface,
		cfg:         cfg,
		prefix:      newPrefix(),
	}
	if cfg.NAT == DoubleNAT {
		l.RouterWAN = routerCGN
	}
	if cfg.Second != nil {
		l.TURNAddr = turnAddr
	}
	return l
}

// Namespaces returns the names of the lab's namespaces (router first).
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.nss))
	for _, n := range l.nss {
		names = append(names, n.Name)
	}
	return names
}

// Config returns the lab's configuration with defaults filled in.
func (l *Lab) Config() Config { return l.cfg }

// Conntrack runs the conntrack tool in the router namespace and returns
// its combined output.
func (l *Lab) Conntrack(ctx context.Context, args ...string) ([]byte, error) {
	return l.Router.Run(ctx, "conntrack", args...)
}

// Close stops every process and echo server, closes every socket the lab
// opened and deletes every namespace. It is idempotent: later calls return
// the first call's result.
func (l *Lab) Close() error {
	l.once.Do(func() { l.closeEr = l.close() })
	return l.closeEr
}

func (l *Lab) close() error {
	errs := []error{l.track.closeAll()} // first: refuses new sockets and processes
	errs = append(errs, l.stopProcs())
	errs = append(errs, l.waitEchoes(5*time.Second))
	errs = append(errs, l.deleteNamespaces(), l.removeTmpDirs())
	return errors.Join(errs...)
}

func (l *Lab) waitEchoes(limit time.Duration) error {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("lab: echo servers still running after %v", limit)
	}
}

func (l *Lab) deleteNamespaces() error {
	l.mu.Lock()
	nss := append([]*NS(nil), l.nss...)
	l.mu.Unlock()
	var errs []error
	for i := len(nss) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := l.run(ctx, "ip", "netns", "del", nss[i].Name)
		cancel()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
