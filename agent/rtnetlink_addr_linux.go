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

// ipv4Addrs returns the IPv4 addresses on all links (IFA_LOCAL, and
// IFA_ADDRESS: on a point-to-point link the peer's).
func ipv4Addrs(c *netlink.Conn) ([]netip.Addr, error) {
	msgs, err := rtRequest(c, unix.RTM_GETADDR, netlink.Dump, ifaddrmsg(0, 0), nil)
	var out []netip.Addr
	for _, m := range msgs {
		if err != nil {
			break
		}
		err = decodeAttrs(m.Data, unix.SizeofIfAddrmsg, func(ad *netlink.AttributeDecoder) {
			if a, ok := netip.AddrFromSlice(ad.Bytes()); ok && (ad.Type() == unix.IFA_LOCAL || ad.Type() == unix.IFA_ADDRESS) {
				out = append(out, a)
			}
		})
	}
	if err != nil {
		return nil, fmt.Errorf("read the router's addresses: %w", err)
	}
	return out, nil
}

// addAddr4 gives link index the IPv4 address addr.
func addAddr4(c *netlink.Conn, index int, addr netip.Prefix) error {
	a := addr.Addr().As4()
	_, err := rtRequest(c, unix.RTM_NEWADDR, netlink.Create|netlink.Excl, ifaddrmsg(addr.Bits(), index), func(ae *netlink.AttributeEncoder) {
		ae.Bytes(unix.IFA_LOCAL, a[:])
		ae.Bytes(unix.IFA_ADDRESS, a[:])
	})
	return err
}

// addDefaultRoute4 adds the IPv4 default route via gw on link index to
// the main table.
func addDefaultRoute4(c *netlink.Conn, index int, gw netip.Addr) error {
	a := gw.As4()
	rtm := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST, 0, 0, 0, 0}
	_, err := rtRequest(c, unix.RTM_NEWROUTE, netlink.Create|netlink.Excl, rtm, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(unix.RTA_GATEWAY, a[:])
		ae.Uint32(unix.RTA_OIF, uint32(index))
	})
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
	for _, m := range msgs {
		if err != nil {
			break
		}
		if len(m.Data) < unix.SizeofNdMsg || int(binary.NativeEndian.Uint32(m.Data[4:])) != index {
			continue
		}
		n := neigh{state: binary.NativeEndian.Uint16(m.Data[8:])}
		err = decodeAttrs(m.Data, unix.SizeofNdMsg, func(ad *netlink.AttributeDecoder) {
			switch ad.Type() {
			case unix.NDA_DST:
				n.addr, _ = netip.AddrFromSlice(ad.Bytes())
			case unix.NDA_LLADDR:
				n.lladdr = ad.Bytes()
			}
		})
		out = append(out, n)
	}
	if err != nil {
		return nil, fmt.Errorf("read the neighbour table: %w", err)
	}
	return out, nil
}

// setNeighbour installs a permanent neighbour entry addr -> mac on link
// index.
func setNeighbour(c *netlink.Conn, index int, addr netip.Addr, mac []byte) error {
	a := addr.As4()
	_, err := rtRequest(c, unix.RTM_NEWNEIGH, netlink.Create|netlink.Replace, ndmsg(index, unix.NUD_PERMANENT), func(ae *netlink.AttributeEncoder) {
		ae.Bytes(unix.NDA_DST, a[:])
		ae.Bytes(unix.NDA_LLADDR, mac)
	})
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
			rtRequest(c, unix.RTM_DELNEIGH, 0, ndmsg(index, 0), func(ae *netlink.AttributeEncoder) {
				ae.Bytes(unix.NDA_DST, a[:])
			})
		}
	}
}
