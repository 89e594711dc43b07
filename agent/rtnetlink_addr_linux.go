//go:build linux

package agent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The rtnetlink requests for IPv4 addresses, routes and neighbour entries
// (see rtnetlink_linux.go for links).

// ifaddrmsg is struct ifaddrmsg for an AF_INET address of prefix length
// bits on link index, of global scope.
func ifaddrmsg(bits int, index int) []byte {
	b := []byte{unix.AF_INET, byte(bits), 0, unix.RT_SCOPE_UNIVERSE, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	return b
}

// ipv4Addrs returns the IPv4 addresses on all links.
func ipv4Addrs(c *netlink.Conn) ([]netip.Addr, error) {
	msgs, err := rtRequest(c, unix.RTM_GETADDR, netlink.Dump, ifaddrmsg(0, 0), nil)
	var out []netip.Addr
	for i := 0; err == nil && i < len(msgs); i++ {
		out, err = appendAddrs(out, msgs[i].Data)
	}
	if err != nil {
		return nil, fmt.Errorf("read the router's addresses: %w", err)
	}
	return out, nil
}

// appendAddrs appends to out the addresses of an RTM_NEWADDR message
// body: IFA_LOCAL, and IFA_ADDRESS (on a point-to-point link the peer's).
func appendAddrs(out []netip.Addr, b []byte) ([]netip.Addr, error) {
	ad, err := decoder(b, unix.SizeofIfAddrmsg)
	if err != nil {
		return out, err
	}
	for ad.Next() {
		if t := ad.Type(); t == unix.IFA_LOCAL || t == unix.IFA_ADDRESS {
			if a, ok := netip.AddrFromSlice(ad.Bytes()); ok {
				out = append(out, a)
			}
		}
	}
	return out, ad.Err()
}

// addAddr4 gives link index the IPv4 address addr.
func addAddr4(c *netlink.Conn, index int, addr netip.Prefix) error {
	a := addr.Addr().As4()
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, a[:])
	ae.Bytes(unix.IFA_ADDRESS, a[:])
	_, err := rtRequest(c, unix.RTM_NEWADDR, netlink.Create|netlink.Excl, ifaddrmsg(addr.Bits(), index), ae)
	return err
}

// addDefaultRoute4 adds the IPv4 default route via gw on link index to
// the main table.
func addDefaultRoute4(c *netlink.Conn, index int, gw netip.Addr) error {
	a := gw.As4()
	rtm := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST, 0, 0, 0, 0}
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.RTA_GATEWAY, a[:])
	ae.Uint32(unix.RTA_OIF, uint32(index))
	_, err := rtRequest(c, unix.RTM_NEWROUTE, netlink.Create|netlink.Excl, rtm, ae)
	return err
}

// ndmsg is struct ndmsg for family AF_INET on link index, in state.
func ndmsg(index int, state uint16) []byte {
	b := make([]byte, unix.SizeofNdMsg)
	b[0] = unix.AF_INET
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint16(b[8:], state)
	return b
}

// neigh is an IPv4 entry of the neighbour table.
type neigh struct {
	index  int // the link's
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
	msgs, err := rtRequest(c, unix.RTM_GETNEIGH, netlink.Dump, ndmsg(0, 0), nil)
	var out []neigh
	for i := 0; err == nil && i < len(msgs); i++ {
		var n neigh
		if n, err = decodeNeigh(msgs[i].Data); err == nil && n.index == index {
			out = append(out, n)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read the neighbour table: %w", err)
	}
	return out, nil
}

// decodeNeigh reads an RTM_NEWNEIGH message body.
func decodeNeigh(b []byte) (neigh, error) {
	ad, err := decoder(b, unix.SizeofNdMsg)
	if err != nil {
		return neigh{}, err
	}
	n := neigh{index: int(binary.NativeEndian.Uint32(b[4:])), state: binary.NativeEndian.Uint16(b[8:])}
	for ad.Next() {
		switch ad.Type() {
		case unix.NDA_DST:
			n.addr, _ = netip.AddrFromSlice(ad.Bytes())
		case unix.NDA_LLADDR:
			n.lladdr = ad.Bytes()
		}
	}
	return n, ad.Err()
}

// setNeighbour installs a permanent neighbour entry addr -> mac on link
// index.
func setNeighbour(c *netlink.Conn, index int, addr netip.Addr, mac []byte) error {
	a := addr.As4()
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.NDA_DST, a[:])
	ae.Bytes(unix.NDA_LLADDR, mac)
	_, err := rtRequest(c, unix.RTM_NEWNEIGH, netlink.Create|netlink.Replace, ndmsg(index, unix.NUD_PERMANENT), ae)
	if err != nil {
		return fmt.Errorf("neighbour %s: %w", addr, err)
	}
	return nil
}

// forgetNeighbours deletes the IPv4 neighbour entries on link index that
// point at mac, best effort. Entries of other hosts stay.
func forgetNeighbours(c *netlink.Conn, index int, mac []byte) {
	ns, _ := neighbours(c, index)
	for _, n := range ns {
		if bytes.Equal(n.lladdr, mac) && n.addr.Is4() {
			a := n.addr.As4()
			ae := netlink.NewAttributeEncoder()
			ae.Bytes(unix.NDA_DST, a[:])
			rtRequest(c, unix.RTM_DELNEIGH, 0, ndmsg(index, 0), ae)
		}
	}
}
