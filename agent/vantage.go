package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
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

// vantageMACs derives the vantage's MAC addresses from the LAN bridge's
// MAC br: br with its first byte replaced by 0x06 inside and 0xfe on the
// host side (locally administered, unicast). They are stable, so a probe
// recognises its own earlier neighbour entry (and removes it) and the
// bridge's forwarding table keeps one entry over any number of probes;
// they differ between routers, so two natp2p routers on one segment do
// not collide; and an admin sees whose they are. 0xfe follows libvirt's
// taps: a bridge without a MAC set of its own takes the lowest of its
// ports', which this one never is while another port exists (a bridge
// with no other port is refused).
func vantageMACs(br []byte) (inside, host net.HardwareAddr) {
	inside, host = make(net.HardwareAddr, 6), make(net.HardwareAddr, 6)
	copy(inside, br)
	copy(host, br)
	inside[0], host[0] = 0x06, 0xfe
	if len(br) > 0 && br[0] == 0x06 { // never the bridge's own
		inside[0] = 0x0e
	}
	return inside, host
}

// maxVantageTries bounds the search for a free address from the top of
// the LAN prefix; vantageSolicit is how many free-looking addresses the
// router asks for at once before it takes one (see chooseVantageAddr).
const (
	maxVantageTries = 256
	vantageSolicit  = 4
)

// Reasons why the probe runs from the router's LAN address instead.
var (
	errNoVeth      = errors.New("veth unavailable (install kmod-veth)")
	errNoNetns     = errors.New("network namespaces unavailable (the kernel lacks CONFIG_NET_NS)")
	errVantageFull = errors.New("no free address for it in the LAN prefix (set probe_netns_addr)")
)

// vantageCandidates returns up to n host addresses of the LAN prefix lan
// (whose Addr is the router's) that taken does not claim, from the top
// down: OpenWrt's DHCP pool is .100 to .249 of a /24, so .254 is normally
// free.
func vantageCandidates(lan netip.Prefix, taken func(netip.Addr) bool, n int) []netip.Addr {
	var out []netip.Addr
	first, last := hostRange(lan)
	for a, i := last, 0; a >= first && i < maxVantageTries && len(out) < n; a, i = a-1, i+1 {
		if addr := addr4(a); addr != lan.Addr() && !taken(addr) {
			out = append(out, addr)
		}
	}
	return out
}

// leased adds the IPv4 addresses of a dnsmasq lease file (lines of
// "expiry mac ip hostname clientid") to used: a host that holds a lease
// may be asleep and answer no ARP request now.
func leased(b []byte, used map[netip.Addr]string) {
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			if a, err := netip.ParseAddr(f[2]); err == nil && a.Is4() {
				used[a] = "leased by dnsmasq to " + f[1]
			}
		}
	}
}

// checkVantageAddr checks an address chosen for the vantage: a host
// address of the LAN prefix lan, not the router's own.
func checkVantageAddr(lan netip.Prefix, a netip.Addr) error {
	first, last := hostRange(lan)
	if !a.Is4() || a == lan.Addr() || u32addr(a) < first || u32addr(a) > last { // Is4 first: u32addr panics on IPv6
		return fmt.Errorf("probe namespace address %s: not a free host address of the LAN prefix %s", a, lan)
	}
	return nil
}

// hostRange returns the first and last host address of an IPv4 prefix,
// first > last when it has none for another host.
func hostRange(lan netip.Prefix) (first, last uint32) {
	if !lan.Addr().Is4() || lan.Bits() > 30 {
		return 1, 0
	}
	mask := ^uint32(0) << (32 - lan.Bits())
	a := u32addr(lan.Addr())
	return a&mask + 1, a | ^mask - 1
}

func u32addr(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, v)))
}

// prefixOf returns addr with its prefix length on interface name, if the
// interface holds it.
func prefixOf(name string, addr netip.Addr) (netip.Prefix, bool) {
	prefixes, _ := interfacePrefixes(name)
	for _, p := range prefixes {
		if p.Addr() == addr {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
