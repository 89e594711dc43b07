//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// brNFSysctl is br_netfilter's switch; the key exists only while the
// module is loaded (Docker loads it on many hosts). It is per network
// namespace, 1 in a new one.
const brNFSysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables"

// setupBridgeNetfilter sets the router's bridge-nf-call-iptables as
// Config.BridgeNetfilter says. Off, br-lan is a plain bridge, as on
// OpenWrt, where br_netfilter is not loaded; on, bridged packets pass the
// IPv4 hooks (a hairpinned packet between two ports of one bridge is then
// bridged, not routed, and a packet DNATed to a host on the port it came
// from is bridged back to that port and dropped).
func (l *Lab) setupBridgeNetfilter(ctx context.Context) error {
	return l.bridgeNetfilter(ctx, l.Router)
}

// bridgeNetfilter sets router r's bridge-nf-call-iptables as
// Config.BridgeNetfilter says (both routers of a two-router lab).
func (l *Lab) bridgeNetfilter(ctx context.Context, r *NS) error {
	if _, err := os.Stat(brNFSysctl); err != nil {
		if l.cfg.BridgeNetfilter {
			return fmt.Errorf("lab: BridgeNetfilter needs br_netfilter loaded (%s: %w)", brNFSysctl, err)
		}
		return nil
	}
	v := 0
	if l.cfg.BridgeNetfilter {
		v = 1
	}
	_, err := r.Run(ctx, "sysctl", "-q", "-w", fmt.Sprintf("net.bridge.bridge-nf-call-iptables=%d", v))
	return err
}

// NFTForwardTable is the nftables table (family ip) of ForwardDropLAN.
const NFTForwardTable = "labfwd"

// setupForwardDrop installs ForwardDropLAN's rule: forwarded packets
// from a LAN bridge (br-lan, and those of AddLANBridge, named br-lan...)
// to one are dropped.
func (l *Lab) setupForwardDrop(ctx context.Context) error {
	if !l.cfg.ForwardDropLAN {
		return nil
	}
	if l.cfg.Backend == Iptables {
		_, err := l.Router.Run(ctx, "iptables", "-w", "-I", "FORWARD", "1", "-i", lanIface+"+", "-o", lanIface+"+", "-j", "DROP")
		return err
	}
	script := fmt.Sprintf("table ip %s {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"+
		"\t\tiifname \"%s*\" oifname \"%s*\" drop\n\t}\n}\n", NFTForwardTable, lanIface, lanIface)
	_, err := l.Router.runStdin(ctx, []byte(script), "nft", "-f", "-")
	return err
}

// AddLANBridge gives the router another LAN bridge, name (br-lan2, say:
// ForwardDropLAN covers bridges named br-lan...) with the router
// at prefix's address (e.g. 192.0.2.1/24), and hosts LAN hosts on it, in
// namespaces of their own (roles m0, m1, ...) with the addresses after
// the router's (.10, .11, ...), routed through the router. Their
// namespaces go with the lab. It is for one extra bridge per lab.
func (l *Lab) AddLANBridge(ctx context.Context, name string, prefix netip.Prefix, hosts int) ([]*NS, error) {
	r, rmac := l.Router, mac(8, 0, 1)
	err := l.ipSteps(ctx, []step{
		{r, []string{"link", "add", name, "address", rmac, "type", "bridge", "stp_state", "0", "forward_delay", "0"}},
		{r, []string{"addr", "add", prefix.String(), "dev", name}},
		{r, []string{"link", "set", name, "up"}},
	})
	if err != nil {
		return nil, err
	}
	var out []*NS
	for i := range hosts {
		a := prefix.Masked().Addr().As4()
		a[3] += byte(10 + i)
		addr := netip.AddrFrom4(a)
		h, err := l.addNS(ctx, fmt.Sprintf("m%d", i), addr)
		if err != nil {
			return nil, err
		}
		port, hmac := fmt.Sprintf("%sp%d", name, i), mac(9, i, 2)
		err = l.ipSteps(ctx, []step{
			{r, []string{"link", "add", port, "address", mac(9, i, 1), "type", "veth", "peer", "name", "eth0", "address", hmac, "netns", h.Name}},
			{r, []string{"link", "set", port, "master", name, "up"}},
			{h, []string{"addr", "add", fmt.Sprintf("%s/%d", addr, prefix.Bits()), "dev", "eth0"}},
			{h, []string{"link", "set", "eth0", "up"}},
			{h, []string{"route", "add", "default", "via", prefix.Addr().String()}},
			{h, []string{"neigh", "replace", prefix.Addr().String(), "lladdr", rmac, "dev", "eth0", "nud", "permanent"}},
			{r, []string{"neigh", "replace", addr.String(), "lladdr", hmac, "dev", name, "nud", "permanent"}},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, h)
		if err := waitUp(ctx, h, "eth0"); err != nil {
			return nil, err
		}
	}
	return out, waitUp(ctx, r, name)
}

// waitUp waits until dev in n is up with a carrier: until then (the
// kernel notes carrier changes within a second) its queue drops every
// packet.
func waitUp(ctx context.Context, n *NS, dev string) error {
	var last []byte
	for deadline := time.Now().Add(listenWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := n.Run(ctx, "ip", "link", "show", "dev", dev)
		if err == nil && bytes.Contains(out, []byte("state UP")) && !bytes.Contains(out, []byte("noop")) {
			return nil
		}
		last = out
	}
	return fmt.Errorf("lab: %s: %s not up within %v:\n%s", n.Name, dev, listenWait, last)
}

// AddUplink gives the router a second uplink, as a router with two
// internet connections has: a veth name with the router at router's
// address (e.g. 100.64.1.1/24, a carrier's shared address) to an
// "internet" host in a namespace of its own (role u) at host's address,
// whose default route is the router. With defaultRoute the router also
// routes by default through it (metric 200). The namespace goes with the
// lab. It is for one extra uplink per lab.
func (l *Lab) AddUplink(ctx context.Context, name string, router, host netip.Prefix, defaultRoute bool) (*NS, error) {
	u, err := l.addNS(ctx, "u", host.Addr())
	if err != nil {
		return nil, err
	}
	r, rmac, umac := l.Router, mac(10, 0, 1), mac(10, 0, 2)
	steps := []step{
		{r, []string{"link", "add", name, "address", rmac, "type", "veth", "peer", "name", "eth0", "address", umac, "netns", u.Name}},
		{r, []string{"addr", "add", router.String(), "dev", name}},
		{r, []string{"link", "set", name, "up"}},
		{u, []string{"addr", "add", host.String(), "dev", "eth0"}},
		{u, []string{"link", "set", "eth0", "up"}},
		{u, []string{"route", "add", "default", "via", router.Addr().String()}},
		{u, []string{"neigh", "replace", router.Addr().String(), "lladdr", rmac, "dev", "eth0", "nud", "permanent"}},
		{r, []string{"neigh", "replace", host.Addr().String(), "lladdr", umac, "dev", name, "nud", "permanent"}},
	}
	if defaultRoute {
		steps = append(steps, step{r, []string{"route", "add", "default", "via", host.Addr().String(), "metric", "200"}})
	}
	if err := l.ipSteps(ctx, steps); err != nil {
		return nil, err
	}
	if err := waitUp(ctx, u, "eth0"); err != nil {
		return nil, err
	}
	return u, waitUp(ctx, r, name)
}

// FW4Forward gives the router a forward chain like OpenWrt fw4's: policy
// drop; replies, anything DNATed (`ct status dnat accept`, which lets port
// forwards in) and anything from br-lan accepted. A DNAT rule that matched
// an inbound packet therefore lets it in.
func (l *Lab) FW4Forward(ctx context.Context) error {
	if l.cfg.Backend == Iptables {
		for _, args := range [][]string{
			{"-P", "FORWARD", "DROP"},
			{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
			{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"},
			{"-A", "FORWARD", "-i", lanIface, "-j", "ACCEPT"},
		} {
			if _, err := l.Router.Run(ctx, "iptables", append([]string{"-w"}, args...)...); err != nil {
				return err
			}
		}
		return nil
	}
	script := "table inet labfw4 {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n" +
		"\t\tct state established,related accept\n\t\tct status dnat accept\n" +
		"\t\tiifname \"" + lanIface + "\" accept\n\t}\n}\n"
	_, err := l.Router.runStdin(ctx, []byte(script), "nft", "-f", "-")
	return err
}
