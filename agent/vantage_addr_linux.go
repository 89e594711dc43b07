//go:build linux

package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
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
	msgs, err := rtRequest(c, unix.RTM_GETADDR, netlink.Dump, []byte{unix.AF_INET, 0, 0, 0, 0, 0, 0, 0})
	if err != nil {
		return nil, fmt.Errorf("read the router's addresses: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) >= unix.SizeofIfAddrmsg {
			walk(m.Data[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) {
				if a, ok := netip.AddrFromSlice(v); ok && (typ == unix.IFA_LOCAL || typ == unix.IFA_ADDRESS) {
					used[a] = "the router's own address"
				}
			})
		}
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

// neigh is an IPv4 entry of the neighbour table.
type neigh struct {
	addr   netip.Addr
	lladdr []byte
	state  uint16 // NUD_*
}

// answered reports whether a host answered for the entry: it has a link
// address, and is not still resolving or failed.
func (n neigh) answered() bool {
	return len(n.lladdr) > 0 && n.state != 0 && n.state&(unix.NUD_INCOMPLETE|unix.NUD_FAILED) == 0
}

// neighbours returns the IPv4 neighbour entries of link index.
func neighbours(c *netlink.Conn, index int) ([]neigh, error) {
	msgs, err := rtRequest(c, unix.RTM_GETNEIGH, netlink.Dump, ndmsg(0, 0))
	if err != nil {
		return nil, fmt.Errorf("read the neighbour table: %w", err)
	}
	var out []neigh
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofNdMsg || int(binary.NativeEndian.Uint32(m.Data[4:])) != index {
			continue
		}
		n := neigh{state: binary.NativeEndian.Uint16(m.Data[8:])}
		walk(m.Data[unix.SizeofNdMsg:], func(typ uint16, v []byte) {
			switch typ {
			case unix.NDA_DST:
				n.addr, _ = netip.AddrFromSlice(v)
			case unix.NDA_LLADDR:
				n.lladdr = v
			}
		})
		out = append(out, n)
	}
	return out, nil
}

// setNeighbour installs a permanent neighbour entry addr -> mac on link
// index: with one on each side, neither the router nor the namespace
// sends an ARP request for the other, and no LAN host learns the
// vantage's address.
func setNeighbour(c *netlink.Conn, index int, addr netip.Addr, mac []byte) error {
	a := addr.As4()
	_, err := rtRequest(c, unix.RTM_NEWNEIGH, netlink.Create|netlink.Replace, ndmsg(index, unix.NUD_PERMANENT),
		nla(unix.NDA_DST, a[:]), nla(unix.NDA_LLADDR, mac))
	if err != nil {
		return fmt.Errorf("neighbour %s: %w", addr, err)
	}
	return nil
}

// forgetNeighbours deletes the router's neighbour entries on br that
// point at the vantage's MAC mac: this probe's, and any a killed agent
// left. Entries of other hosts stay.
func forgetNeighbours(c *netlink.Conn, br int, mac []byte) {
	ns, _ := neighbours(c, br)
	for _, n := range ns {
		if bytes.Equal(n.lladdr, mac) && n.addr.Is4() {
			a := n.addr.As4()
			rtRequest(c, unix.RTM_DELNEIGH, 0, ndmsg(br, 0), nla(unix.NDA_DST, a[:]))
		}
	}
}

// ndmsg is struct ndmsg for family AF_INET on link index, in state.
func ndmsg(index int, state uint16) []byte {
	b := make([]byte, unix.SizeofNdMsg)
	b[0] = unix.AF_INET
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint16(b[8:], state)
	return b
}
