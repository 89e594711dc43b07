//go:build linux

package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/netlink"
)

// dhcpLeases is dnsmasq's lease file on OpenWrt; a variable for tests.
var dhcpLeases = "/tmp/dhcp.leases"

// solicitWait is how long the router waits for answers to the ARP
// requests that chooseVantageAddr makes it send.
var solicitWait = time.Second

// chooseVantageAddr settles the vantage's address on bridge br: addr if
// valid, else the highest free-looking address of prefix. An address is
// out if the router holds it, dnsmasq leased it or a host answers for it
// in the router's neighbour table; then the router itself asks for the
// candidates (one UDP datagram each to the discard port makes it send an
// ARP request) and takes the first no host answered for. The namespace
// never asks (it has IFF_NOARP), so a host that is up but silent is found
// here or not at all.
func chooseVantageAddr(ctx context.Context, c *netlink.Conn, br int, mac []byte, prefix netip.Prefix, addr netip.Addr) (netip.Addr, error) {
	used, err := usedAddrs(c, br, mac)
	if err != nil {
		return addr, err
	}
	cands := []netip.Addr{addr}
	if !addr.IsValid() {
		cands = vantageCandidates(prefix, func(a netip.Addr) bool { return used[a] != "" }, vantageSolicit)
	} else if err := checkVantageAddr(prefix, addr); err != nil {
		return addr, err
	}
	for _, a := range cands {
		if d, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: a.AsSlice(), Port: 9}); err == nil {
			d.Write([]byte{0})
			d.Close()
		}
	}
	select {
	case <-ctx.Done():
		return addr, ctx.Err()
	case <-time.After(solicitWait):
	}
	if used, err = usedAddrs(c, br, mac); err != nil {
		return addr, err
	}
	for _, a := range cands {
		if used[a] == "" {
			return a, nil
		}
	}
	if addr.IsValid() {
		return addr, fmt.Errorf("probe namespace address %s: %s", addr, used[addr])
	}
	return addr, errVantageFull
}

// usedAddrs returns the addresses the vantage must not take, each with
// the reason: the router's own (on any link: a VRRP or secondary address
// on the bridge too), dnsmasq's leases, and those of the neighbours on
// br that a host answered for (not the vantage, at mac).
func usedAddrs(c *netlink.Conn, br int, mac []byte) (map[netip.Addr]string, error) {
	used := map[netip.Addr]string{}
	own, err := ipv4Addrs(c)
	if err != nil {
		return nil, err
	}
	for _, a := range own {
		used[a] = "the router's own address"
	}
	if b, err := os.ReadFile(dhcpLeases); err == nil {
		leased(b, used)
	}
	ns, err := neighbours(c, br)
	for _, n := range ns {
		if n.answered() && !bytes.Equal(n.lladdr, mac) {
			used[n.addr] = "a LAN host (" + net.HardwareAddr(n.lladdr).String() + ") answers for it"
		}
	}
	return used, err
}
