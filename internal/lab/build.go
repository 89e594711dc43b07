//go:build linux

package lab

import (
	"context"
	"fmt"
	"net/netip"
)

// Fixed, locally administered MAC addresses. Every lab is its own set of
// isolated L2 segments, so they never collide across labs.
func mac(seg, idx, side int) string {
	return fmt.Sprintf("02:6e:70:%02x:%02x:%02x", seg, idx, side)
}

var (
	bridgeMAC  = mac(0, 0, 1)
	wanRtrMAC  = mac(2, 0, 1)
	wanHostMAC = mac(2, 0, 2)
)

// build creates the namespaces and wires them up.
func (l *Lab) build(ctx context.Context) error {
	steps := []func(context.Context) error{
		l.createNamespaces, l.setupRouter, l.setupLANs, l.setupWAN,
		l.setupNAT, l.setupForwardDrop, l.setupWANFilter, l.setupConntrack,
	}
	steps = append(steps, l.setupSecond)
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) createNamespaces(ctx context.Context) error {
	var err error
	if l.Router, err = l.addNS(ctx, "r", routerLAN); err != nil {
		return err
	}
	if l.WAN, err = l.addNS(ctx, "w", l.wanHostAddrs()...); err != nil {
		return err
	}
	if l.LAN, err = l.addHosts(ctx, "l", siteA, l.cfg.LANHosts); err != nil {
		return err
	}
	l.sites = []*Site{l.first()}
	if l.cfg.Second != nil {
		return l.createSecond(ctx)
	}
	return nil
}

// addHosts creates n LAN hosts named role0, role1, ... with the addresses
// of plan's LAN.
func (l *Lab) addHosts(ctx context.Context, role string, plan sitePlan, n int) ([]*NS, error) {
	var hosts []*NS
	for i := 0; i < n; i++ {
		h, err := l.addNS(ctx, fmt.Sprintf("%s%d", role, i), plan.host(i))
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// addNS creates one namespace, brings lo up and disables IPv6 in it (the
// lab is IPv4 only; this keeps IPv6 autoconfiguration chatter out).
func (l *Lab) addNS(ctx context.Context, role string, addrs ...netip.Addr) (*NS, error) {
	n := &NS{Name: l.prefix + "-" + role, lab: l, addrs: addrs}
	if _, err := l.run(ctx, "ip", "netns", "add", n.Name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.nss = append(l.nss, n)
	l.mu.Unlock()
	if err := l.ip(ctx, n, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	_, err := n.Run(ctx, "sysctl", "-q", "-e", "-w",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return n, err
}

// ip runs `ip -n NS args...`.
func (l *Lab) ip(ctx context.Context, n *NS, args ...string) error {
	_, err := l.run(ctx, "ip", append([]string{"-n", n.Name}, args...)...)
	return err
}

// step is one `ip -n NS ...` command.
type step struct {
	ns   *NS
	args []string
}

func (l *Lab) ipSteps(ctx context.Context, steps []step) error {
	for _, s := range steps {
		if err := l.ip(ctx, s.ns, s.args...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) setupRouter(ctx context.Context) error {
	r := l.Router
	err := l.ipSteps(ctx, []step{
		{r, []string{"link", "add", lanIface, "address", bridgeMAC, "type", "bridge",
			"stp_state", "0", "forward_delay", "0"}},
		{r, []string{"addr", "add", routerLAN.String() + "/24", "dev", lanIface}},
		{r, []string{"link", "set", lanIface, "up"}},
	})
	if err != nil {
		return err
	}
	if _, err = r.Run(ctx, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	return l.setupBridgeNetfilter(ctx)
}

func (l *Lab) setupLANs(ctx context.Context) error {
	return l.First().setupLANs(ctx)
}

func (s *Site) setupLANs(ctx context.Context) error {
	for i, h := range s.LAN {
		if err := s.lab.ipSteps(ctx, s.lanSteps(i, h)); err != nil {
			return err
		}
	}
	return nil
}

// lanSteps connects LAN host i: router port lanp<i> on the bridge <-> eth0.
func (s *Site) lanSteps(i int, h *NS) []step {
	r, port, hostMAC := s.Router, fmt.Sprintf("lanp%d", i), s.plan.portMAC(i, 2)
	addr, gw := h.Addr().String(), s.RouterLAN.String()
	return []step{
		{r, []string{"link", "add", port, "address", s.plan.portMAC(i, 1), "type", "veth",
			"peer", "name", "eth0", "address", hostMAC, "netns", h.Name}},
		{r, []string{"link", "set", port, "master", s.LANIface, "up"}},
		{h, []string{"addr", "add", addr + "/24", "dev", "eth0"}},
		{h, []string{"link", "set", "eth0", "up"}},
		{h, []string{"route", "add", "default", "via", gw}},
		{h, []string{"neigh", "replace", gw, "lladdr", s.plan.bridgeMAC(),
			"dev", "eth0", "nud", "permanent"}},
		{r, []string{"neigh", "replace", addr, "lladdr", hostMAC,
			"dev", s.LANIface, "nud", "permanent"}},
	}
}

func (l *Lab) setupWAN(ctx context.Context) error {
	if l.cfg.Second != nil {
		return l.setupSharedWAN(ctx)
	}
	if l.cfg.NAT == DoubleNAT {
		return l.setupDoubleNAT(ctx)
	}
	r, w := l.Router, l.WAN
	steps := []step{
		{r, []string{"link", "add", wanIface, "address", wanRtrMAC, "type", "veth",
			"peer", "name", "eth0", "address", wanHostMAC, "netns", w.Name}},
		{r, []string{"link", "set", wanIface, "up"}},
		{w, []string{"link", "set", "eth0", "up"}},
	}
	for _, a := range l.routerWANAddrs() {
		steps = append(steps,
			step{r, []string{"addr", "add", a.String() + "/24", "dev", wanIface}},
			step{w, []string{"neigh", "replace", a.String(), "lladdr", wanRtrMAC,
				"dev", "eth0", "nud", "permanent"}})
	}
	for _, a := range serverAddrs {
		steps = append(steps,
			step{w, []string{"addr", "add", a.String() + "/24", "dev", "eth0"}},
			step{r, []string{"neigh", "replace", a.String(), "lladdr", wanHostMAC,
				"dev", wanIface, "nud", "permanent"}})
	}
	if l.cfg.NAT == NoNAT {
		steps = append(steps, step{w, []string{"route", "add", lanNet.String(),
			"via", routerWAN.String()}})
	}
	return l.ipSteps(ctx, steps)
}

var (
	cgnInMAC  = mac(3, 0, 1)
	cgnOutMAC = mac(3, 0, 2)
)

// setupDoubleNAT wires router wan0 (100.64.0.2) to the CGN's "inside"
// (100.64.0.1) and the CGN's "outside" (203.0.113.1) to the WAN host, and
// makes the CGN masquerade.
func (l *Lab) setupDoubleNAT(ctx context.Context) error {
	c, err := l.addNS(ctx, "c", routerWAN)
	if err != nil {
		return err
	}
	l.CGN = c
	if err := l.ipSteps(ctx, l.cgnSteps(c)); err != nil {
		return err
	}
	if _, err := c.Run(ctx, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	script := natTable("\t\toifname \"outside\" masquerade fully-random\n", "")
	_, err = c.runStdin(ctx, []byte(script), "nft", "-f", "-")
	return err
}

func (l *Lab) cgnSteps(c *NS) []step {
	r, w := l.Router, l.WAN
	steps := []step{
		{r, []string{"link", "add", wanIface, "address", wanRtrMAC, "type", "veth",
			"peer", "name", "inside", "address", cgnInMAC, "netns", c.Name}},
		{r, []string{"link", "set", wanIface, "up"}},
		{c, []string{"link", "set", "inside", "up"}},
		{r, []string{"addr", "add", routerCGN.String() + "/24", "dev", wanIface}},
		{c, []string{"addr", "add", cgnInside.String() + "/24", "dev", "inside"}},
		{r, []string{"neigh", "replace", cgnInside.String(), "lladdr", cgnInMAC, "dev", wanIface, "nud", "permanent"}},
		{c, []string{"neigh", "replace", routerCGN.String(), "lladdr", wanRtrMAC, "dev", "inside", "nud", "permanent"}},
		{r, []string{"route", "add", "default", "via", cgnInside.String()}},
		{c, []string{"link", "add", "outside", "address", cgnOutMAC, "type", "veth",
			"peer", "name", "eth0", "address", wanHostMAC, "netns", w.Name}},
		{c, []string{"link", "set", "outside", "up"}},
		{w, []string{"link", "set", "eth0", "up"}},
		{c, []string{"addr", "add", routerWAN.String() + "/24", "dev", "outside"}},
		{w, []string{"neigh", "replace", routerWAN.String(), "lladdr", cgnOutMAC, "dev", "eth0", "nud", "permanent"}},
	}
	for _, a := range serverAddrs {
		steps = append(steps,
			step{w, []string{"addr", "add", a.String() + "/24", "dev", "eth0"}},
			step{c, []string{"neigh", "replace", a.String(), "lladdr", wanHostMAC, "dev", "outside", "nud", "permanent"}})
	}
	return steps
}

// routerWANAddrs returns the router's public addresses (two for SNATPool).
func (l *Lab) routerWANAddrs() []netip.Addr {
	if l.cfg.NAT == SNATPool {
		return []netip.Addr{routerWAN, routerWAN2}
	}
	return []netip.Addr{routerWAN}
}

// setupConntrack turns conntrack events on and applies UDPTimeout. It runs
// after setupNAT, which makes sure conntrack is loaded in the namespace.
func (l *Lab) setupConntrack(ctx context.Context) error {
	return l.First().setupConntrack(ctx)
}

// setupConntrack is Lab.setupConntrack for the site's router.
func (s *Site) setupConntrack(ctx context.Context) error {
	args := []string{"-q", "-w", "net.netfilter.nf_conntrack_events=1"}
	if t := s.lab.cfg.UDPTimeout; t > 0 {
		args = append(args,
			fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout=%d", t),
			fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout_stream=%d", t))
	}
	_, err := s.Router.Run(ctx, "sysctl", args...)
	return err
}

// AddPlainLAN gives the router a second LAN interface that is no bridge:
// a veth named name (its peer name+"p" stays unconnected) with prefix,
// up. It goes with the router namespace.
func (l *Lab) AddPlainLAN(ctx context.Context, name string, prefix netip.Prefix) error {
	return l.ipSteps(ctx, []step{
		{l.Router, []string{"link", "add", name, "type", "veth", "peer", "name", name + "p"}},
		{l.Router, []string{"addr", "add", prefix.String(), "dev", name}},
		{l.Router, []string{"link", "set", name, "up"}},
	})
}
