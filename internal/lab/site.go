//go:build linux

package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// SiteConfig describes the second router of a two-router lab (Config.Second).
type SiteConfig struct {
	NAT      NAT     // Masquerade (the zero value) or MasqueradeFullyRandom
	Backend  Backend // zero value means Nftables
	LANHosts int     // number of LAN hosts (1..200); zero means 1
}

func (c SiteConfig) normalize() SiteConfig {
	if c.NAT == "" {
		c.NAT = Masquerade
	}
	if c.Backend == "" {
		c.Backend = Nftables
	}
	if c.LANHosts == 0 {
		c.LANHosts = 1
	}
	return c
}

// Site is one router of a lab with its LAN: the first router (Lab.First)
// or, in a two-router lab, the second (Lab.Second).
type Site struct {
	Router    *NS   // the router namespace
	LAN       []*NS // its LAN hosts, default via RouterLAN
	RouterLAN netip.Addr
	RouterWAN netip.Addr
	Public    netip.Addr // what the internet sees
	LANIface  string     // "br-lan"
	WANIface  string     // "wan0"
	NAT       NAT
	Backend   Backend

	lab  *Lab
	plan sitePlan
}

// sitePlan is the fixed addressing of one router and its LAN.
type sitePlan struct {
	lan        [3]byte    // the LAN's /24: .1 is the router, .10, .11, ... the hosts
	wan        netip.Addr // the router's WAN address
	lanSeg     int        // MAC segment of the bridge; lanSeg+1 is the LAN links'
	wanMAC     string     // the router's wan0
	wanPortMAC string     // wan0's peer on the WAN bridge (two-router labs)
}

var (
	siteA = sitePlan{lan: [3]byte{198, 51, 100}, wan: routerWAN, lanSeg: 0,
		wanMAC: wanRtrMAC, wanPortMAC: mac(2, 1, 2)}
	siteB = sitePlan{lan: [3]byte{192, 0, 2}, wan: netip.MustParseAddr("203.0.113.3"), lanSeg: 4,
		wanMAC: mac(6, 0, 1), wanPortMAC: mac(6, 0, 2)}
	// turnAddr is the TURN relay's address on the WAN host of a
	// two-router lab.
	turnAddr = netip.MustParseAddr("203.0.113.20")
)

// wanBridge joins the routers and the WAN host's addresses in a
// two-router lab.
const wanBridge = "br-wan"

func (p sitePlan) addr(last byte) netip.Addr {
	return netip.AddrFrom4([4]byte{p.lan[0], p.lan[1], p.lan[2], last})
}

func (p sitePlan) routerLAN() netip.Addr { return p.addr(1) }
func (p sitePlan) host(i int) netip.Addr { return p.addr(byte(10 + i)) }
func (p sitePlan) bridgeMAC() string     { return mac(p.lanSeg, 0, 1) }
func (p sitePlan) portMAC(i, side int) string {
	return mac(p.lanSeg+1, i, side)
}

// First returns the first router and its LAN as a Site (the same
// namespaces and addresses as Lab.Router, Lab.LAN and so on).
func (l *Lab) First() *Site { return l.sites[0] }

// Sites returns the lab's routers: First, then Second if there is one.
func (l *Lab) Sites() []*Site { return append([]*Site(nil), l.sites...) }

func (l *Lab) first() *Site {
	return &Site{Router: l.Router, LAN: l.LAN, RouterLAN: l.RouterLAN, RouterWAN: l.RouterWAN, Public: l.Public,
		LANIface: l.LANIface, WANIface: l.WANIface, NAT: l.cfg.NAT, Backend: l.cfg.Backend, lab: l, plan: siteA}
}

// createSecond creates the second router (role r2) and its hosts (b0, b1, ...).
func (l *Lab) createSecond(ctx context.Context) error {
	r, err := l.addNS(ctx, "r2", siteB.routerLAN())
	if err != nil {
		return err
	}
	c := *l.cfg.Second
	hosts, err := l.addHosts(ctx, "b", siteB, c.LANHosts)
	if err != nil {
		return err
	}
	l.Second = &Site{Router: r, LAN: hosts, RouterLAN: siteB.routerLAN(), RouterWAN: siteB.wan, Public: siteB.wan,
		LANIface: lanIface, WANIface: wanIface, NAT: c.NAT, Backend: c.Backend, lab: l, plan: siteB}
	l.sites = append(l.sites, l.Second)
	return nil
}

// setupSecond finishes a two-router lab, after the first router and the
// WAN: the second router and its LAN, then a wait until every bridge
// forwards. Other labs have nothing to do here.
func (l *Lab) setupSecond(ctx context.Context) error {
	if l.Second == nil {
		return nil
	}
	s := l.Second
	for _, step := range []func(context.Context) error{
		s.setupRouter, s.setupLANs, s.setupNAT, s.setupConntrack, l.waitForwarding,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// setupRouter makes the second router's LAN bridge and lets it forward,
// with bridge netfilter as Config.BridgeNetfilter says, as Lab.setupRouter
// does for the first.
func (s *Site) setupRouter(ctx context.Context) error {
	r := s.Router
	err := s.lab.ipSteps(ctx, []step{
		{r, []string{"link", "add", s.LANIface, "address", s.plan.bridgeMAC(), "type", "bridge",
			"stp_state", "0", "forward_delay", "0"}},
		{r, []string{"addr", "add", s.RouterLAN.String() + "/24", "dev", s.LANIface}},
		{r, []string{"link", "set", s.LANIface, "up"}},
	})
	if err != nil {
		return err
	}
	if _, err = r.Run(ctx, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	return s.lab.bridgeNetfilter(ctx, r)
}

// plainBridges turns bridge netfilter off in n, if br_netfilter is
// loaded: its bridges are then plain bridges, as on OpenWrt.
func plainBridges(ctx context.Context, n *NS) error {
	if _, err := os.Stat(brNFSysctl); err != nil {
		return nil
	}
	_, err := n.Run(ctx, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0")
	return err
}

// wanHostAddrs returns the WAN host's addresses: the servers', and the
// TURN relay's in a two-router lab.
func (l *Lab) wanHostAddrs() []netip.Addr {
	addrs := append([]netip.Addr(nil), serverAddrs...)
	if l.TURNAddr.IsValid() {
		addrs = append(addrs, l.TURNAddr)
	}
	return addrs
}

// setupSharedWAN puts every router's wan0 and the WAN host's addresses on
// one bridge in the WAN namespace, with permanent neighbour entries
// between all of them.
func (l *Lab) setupSharedWAN(ctx context.Context) error {
	w := l.WAN
	steps := []step{{w, []string{"link", "add", wanBridge, "address", wanHostMAC, "type", "bridge",
		"stp_state", "0", "forward_delay", "0"}}}
	for i, s := range l.sites {
		steps = append(steps, l.wanLinkSteps(i, s)...)
	}
	steps = append(steps, step{w, []string{"link", "set", wanBridge, "up"}})
	for _, a := range l.wanHostAddrs() {
		steps = append(steps, step{w, []string{"addr", "add", a.String() + "/24", "dev", wanBridge}})
	}
	steps = append(steps, l.internetSteps()...)
	if err := l.ipSteps(ctx, steps); err != nil {
		return err
	}
	return plainBridges(ctx, w)
}

// bridgeWait bounds how long a new bridge port may take to forward.
const bridgeWait = 5 * time.Second

// waitForwarding waits until every bridge port of the WAN host and of the
// routers forwards: a veth's carrier reaches its bridge through the
// kernel's link watch, which may take up to a second, and until then the
// port drops every frame.
func (l *Lab) waitForwarding(ctx context.Context) error {
	nss := []*NS{l.WAN}
	for _, s := range l.sites {
		nss = append(nss, s.Router)
	}
	for _, n := range nss {
		if err := n.waitForwarding(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (n *NS) waitForwarding(ctx context.Context) error {
	var last string
	for deadline := time.Now().Add(bridgeWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := n.Run(ctx, "bridge", "link", "show")
		if err != nil {
			return err
		}
		last = string(out)
		if strings.Count(last, "master ") == strings.Count(last, "state forwarding") {
			return nil
		}
	}
	return fmt.Errorf("lab: %s: bridge ports not forwarding within %v:\n%s", n.Name, bridgeWait, last)
}

// internetGW is the WAN's way to the rest of the internet in a
// two-router lab: an address on the WAN that no host has, with a MAC
// address no interface has (permanent neighbour entries), where packets
// vanish.
var (
	internetGW  = netip.MustParseAddr("203.0.113.254")
	internetMAC = mac(7, 0, 1)
)

// internetSteps give the WAN host and every router a default route via
// internetGW. A packet to an address no lab host has (a LAN address of the
// other router, say, which ICE tries) then disappears silently, as on the
// internet, instead of failing at once with "network unreachable": coturn
// closes a TURN allocation whose relay cannot send to a peer.
func (l *Lab) internetSteps() []step {
	var steps []step
	for _, r := range []struct {
		ns  *NS
		dev string
	}{{l.WAN, wanBridge}, {l.sites[0].Router, wanIface}, {l.sites[1].Router, wanIface}} {
		steps = append(steps,
			step{r.ns, []string{"neigh", "replace", internetGW.String(), "lladdr", internetMAC,
				"dev", r.dev, "nud", "permanent"}},
			step{r.ns, []string{"route", "add", "default", "via", internetGW.String()}})
	}
	return steps
}

// wanLinkSteps connects site s (the i-th) to the WAN bridge.
func (l *Lab) wanLinkSteps(i int, s *Site) []step {
	r, w, port := s.Router, l.WAN, fmt.Sprintf("wanp%d", i)
	steps := []step{
		{r, []string{"link", "add", wanIface, "address", s.plan.wanMAC, "type", "veth",
			"peer", "name", port, "address", s.plan.wanPortMAC, "netns", w.Name}},
		{r, []string{"addr", "add", s.RouterWAN.String() + "/24", "dev", wanIface}},
		{r, []string{"link", "set", wanIface, "up"}},
		{w, []string{"link", "set", port, "master", wanBridge, "up"}},
		{w, []string{"neigh", "replace", s.RouterWAN.String(), "lladdr", s.plan.wanMAC,
			"dev", wanBridge, "nud", "permanent"}},
	}
	neigh := func(a netip.Addr, mac string) step {
		return step{r, []string{"neigh", "replace", a.String(), "lladdr", mac, "dev", wanIface, "nud", "permanent"}}
	}
	for _, a := range l.wanHostAddrs() {
		steps = append(steps, neigh(a, wanHostMAC))
	}
	for _, o := range l.sites {
		if o != s {
			steps = append(steps, neigh(o.RouterWAN, o.plan.wanMAC))
		}
	}
	return steps
}
