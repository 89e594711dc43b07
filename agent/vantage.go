package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// vantage is the LAN-side network namespace of one probe: a namespace of
// its own with one end of a veth pair whose other end is a port of the
// LAN bridge. Its packets enter the router through the LAN interface, as
// a LAN host's do, so the probe meets the forward path, the LAN zone's
// firewall and hairpinning exactly as a LAN host would.
type vantage struct {
	addr  netip.Addr               // the namespace's address, in the LAN prefix
	enter func(func() error) error // runs a function on a thread inside the namespace
	close func() error             // deletes the veth pair and releases the namespace
}

// Names and addresses of the vantage point. The host-side name says whose
// it is in `ip link`; IFNAMSIZ allows 15 bytes.
const (
	vantageLink = "np2p-vant0" // host side, a port of the LAN bridge
	vantagePeer = "eth0"       // inside the namespace, where no other link exists
)

// The vantage's MAC addresses are fixed and locally administered. A fixed
// address lets a probe recognise its own earlier ARP entry (and remove
// it), keeps the bridge's forwarding table and the router's neighbour
// table at one entry over any number of probes, and shows an admin who it
// is. The host side starts with 0xfe, as libvirt's tap devices do: a
// bridge without a MAC of its own takes its lowest port's, and must never
// take this one and change the router's LAN MAC under its hosts.
var (
	vantageMAC     = net.HardwareAddr{0x02, 0x6e, 0x70, 0x32, 0x70, 0x01} // 02:6e:70:32:70:01, "np2p"
	vantageHostMAC = net.HardwareAddr{0xfe, 0x6e, 0x70, 0x32, 0x70, 0x00}
)

// maxVantageTries bounds the search for a free address from the top of
// the LAN prefix.
const maxVantageTries = 256

// Reasons why the probe runs from the router's LAN address instead.
var (
	errNoVeth      = errors.New("veth unavailable (install kmod-veth)")
	errNoNetns     = errors.New("network namespaces unavailable (the kernel lacks CONFIG_NET_NS)")
	errVantageFull = errors.New("no free address for it in the LAN prefix (set probe_netns_addr)")
)

// pickVantageAddr returns the highest host address of the LAN prefix lan
// (whose Addr is the router's) that taken does not claim: OpenWrt's DHCP
// pool is .100 to .249 of a /24, so .254 is normally free.
func pickVantageAddr(lan netip.Prefix, taken func(netip.Addr) bool) (netip.Addr, error) {
	if !lan.Addr().Is4() || lan.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("LAN prefix %s has no room for another host", lan)
	}
	a := lastAddr(lan.Masked()).Prev() // below the broadcast address
	for i := 0; i < maxVantageTries && lan.Contains(a) && a != lan.Masked().Addr(); i, a = i+1, a.Prev() {
		if a != lan.Addr() && !taken(a) {
			return a, nil
		}
	}
	return netip.Addr{}, errVantageFull
}

// checkVantageAddr checks an address chosen for the vantage: a host
// address of the LAN prefix lan, not the router's own.
func checkVantageAddr(lan netip.Prefix, a netip.Addr) error {
	p := lan.Masked()
	switch {
	case !p.Contains(a):
		return fmt.Errorf("probe namespace address %s is outside the LAN prefix %s", a, lan)
	case a == lan.Addr():
		return fmt.Errorf("probe namespace address %s is the router's own LAN address", a)
	case lan.Bits() <= 30 && (a == p.Addr() || a == lastAddr(p)):
		return fmt.Errorf("probe namespace address %s is the network or broadcast address of %s", a, lan)
	}
	return nil
}

// lastAddr is the last address of an IPv4 prefix (its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// lanPrefix returns the interface among lans that holds addr, and addr
// with that interface's prefix length.
func lanPrefix(lans []string, addr netip.Addr) (string, netip.Prefix, error) {
	for _, name := range lans {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr {
				return name, netip.PrefixFrom(addr, p.Bits()), nil
			}
		}
	}
	return "", netip.Prefix{}, fmt.Errorf("%s is on no LAN interface", addr)
}
