//go:build linux

package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Kernel constants that x/sys/unix lacks.
const (
	vethInfoPeer       = 1 // VETH_INFO_PEER
	in6AddrGenModeNone = 1 // IN6_ADDR_GEN_MODE_NONE
	ifOperUp           = 6 // IF_OPER_UP
	brStateForwarding  = 3 // BR_STATE_FORWARDING
)

// netlinkTimeout bounds every rtnetlink conversation of the vantage.
const netlinkTimeout = 5 * time.Second

// readyTimeout bounds the wait for the veth to carry packets. The kernel
// turns carrier, queueing and the bridge port on asynchronously (linkwatch
// runs at most once a second); a bridge with STP keeps a new port
// listening for twice its forward delay, and then the namespace is not
// used.
const readyTimeout = 3 * time.Second

// openVantage builds the LAN-side namespace on bridge lan, whose prefix is
// prefix (its Addr the router's), at addr or, if invalid, at a free
// address it picks. On error it leaves nothing behind.
func openVantage(ctx context.Context, lan string, prefix netip.Prefix, addr netip.Addr) (*vantage, error) {
	// The router's namespace, so that close works from any thread.
	host, err := os.Open(threadNetns())
	if err != nil {
		return nil, err
	}
	c, err := dialRoute(int(host.Fd()))
	if err != nil {
		host.Close()
		return nil, err
	}
	defer c.Close()
	br, addr, err := prepareVantage(c, lan, prefix, addr)
	if err != nil {
		host.Close()
		return nil, err
	}
	ns, err := newNetns()
	if err != nil {
		host.Close()
		return nil, err
	}
	v := &vantage{addr: addr, enter: func(fn func() error) error { return inNetns(int(ns.Fd()), fn) },
		close: func() error { return closeVantage(host, ns, br, addr) }}
	if err := addVeth(c, br, ns); err != nil {
		v.close()
		return nil, err
	}
	if err := setupInside(ns, netip.PrefixFrom(addr, prefix.Bits()), prefix.Addr()); err != nil {
		v.close()
		return nil, fmt.Errorf("set up the namespace: %w", err)
	}
	if err := waitReady(ctx, c, ns, lan); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

// waitReady waits until both ends of the veth are operationally up and
// the bridge forwards on the host side: before that, the first packets of
// a probe would be dropped and it would see no answer.
func waitReady(ctx context.Context, c *netlink.Conn, ns *os.File, lan string) error {
	inside, err := dialRoute(int(ns.Fd()))
	if err != nil {
		return err
	}
	defer inside.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		h, _, herr := linkByName(c, vantageLink)
		i, _, ierr := linkByName(inside, vantagePeer)
		switch {
		case herr != nil || ierr != nil:
			return errors.Join(herr, ierr)
		case h.operUp && i.operUp && h.portState == brStateForwarding:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("%s did not start forwarding within %v (port state %d; STP on %s?)",
				vantageLink, readyTimeout, h.portState, lan)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// prepareVantage removes an earlier vantage link, checks that lan is a
// bridge and settles the address.
func prepareVantage(c *netlink.Conn, lan string, prefix netip.Prefix, addr netip.Addr) (int, netip.Addr, error) {
	if err := removeVantageLink(c); err != nil {
		return 0, addr, fmt.Errorf("remove an earlier %s: %w", vantageLink, err)
	}
	br, err := bridgeIndex(c, lan)
	if err != nil {
		return 0, addr, err
	}
	addr, err = vantageAddr(c, br, prefix, addr)
	return br, addr, err
}

// closeVantage deletes the veth pair (one end takes the other along), the
// router's neighbour entry for the vantage, and releases the namespace,
// which the kernel then frees.
func closeVantage(host, ns *os.File, br int, addr netip.Addr) error {
	defer host.Close()
	defer ns.Close()
	c, err := dialRoute(int(host.Fd()))
	if err != nil {
		return err
	}
	defer c.Close()
	err = removeVantageLink(c)
	forgetNeighbour(c, br, addr)
	return err
}

// removeVantageLeftover deletes a vantage link that a killed agent left
// (the kernel frees the namespace with the process, and the veth with it,
// but not at once). It touches only a veth of that name.
func removeVantageLeftover() error {
	c, err := dialRoute(0)
	if err != nil {
		return err
	}
	defer c.Close()
	return removeVantageLink(c)
}

// dialRoute opens an rtnetlink socket in the namespace netns (0: the
// agent's own), with a deadline.
func dialRoute(netns int) (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	if err := c.SetDeadline(time.Now().Add(netlinkTimeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// link is what the vantage needs of an RTM_NEWLINK answer.
type link struct {
	index     int
	kind      string // IFLA_INFO_KIND: "bridge", "veth", ...; empty for a plain device
	operUp    bool   // IFLA_OPERSTATE is IF_OPER_UP
	portState uint8  // IFLA_BRPORT_STATE, for a bridge port
}

// linkByName asks for one link; ok is false when there is none.
func linkByName(c *netlink.Conn, name string) (l link, ok bool, err error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, name)
	msgs, err := rtRequest(c, unix.RTM_GETLINK, 0, ifinfomsg(0, 0, 0), ae)
	if errors.Is(err, unix.ENODEV) {
		return link{}, false, nil
	}
	if err != nil || len(msgs) == 0 || len(msgs[0].Data) < unix.SizeofIfInfomsg {
		return link{}, false, fmt.Errorf("link %s: %v", name, err)
	}
	d := msgs[0].Data
	l.index = int(int32(binary.NativeEndian.Uint32(d[4:8])))
	ad, err := netlink.NewAttributeDecoder(d[unix.SizeofIfInfomsg:])
	if err != nil {
		return link{}, false, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_OPERSTATE:
			l.operUp = ad.Uint8() == ifOperUp
		case unix.IFLA_LINKINFO:
			ad.Nested(l.linkInfo)
		}
	}
	return l, true, ad.Err()
}

// linkInfo reads IFLA_LINKINFO: the kind, and a bridge port's state.
func (l *link) linkInfo(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_INFO_KIND:
			l.kind = ad.String()
		case unix.IFLA_INFO_SLAVE_DATA:
			ad.Nested(func(port *netlink.AttributeDecoder) error {
				for port.Next() {
					if port.Type() == unix.IFLA_BRPORT_STATE {
						l.portState = port.Uint8()
					}
				}
				return nil
			})
		}
	}
	return nil
}

// bridgeIndex returns the index of the LAN interface if it is a bridge.
func bridgeIndex(c *netlink.Conn, lan string) (int, error) {
	l, ok, err := linkByName(c, lan)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, fmt.Errorf("LAN interface %s not found", lan)
	case l.kind != "bridge":
		kind := l.kind
		if kind == "" {
			kind = "plain device"
		}
		return 0, fmt.Errorf("LAN interface %s is a %s, not a bridge", lan, kind)
	}
	return l.index, nil
}

// removeVantageLink deletes the host side of the vantage veth, if one
// exists; a link of that name that is no veth is not ours and stays.
func removeVantageLink(c *netlink.Conn) error {
	l, ok, err := linkByName(c, vantageLink)
	if err != nil || !ok {
		return err
	}
	if l.kind != "veth" {
		return fmt.Errorf("%s exists and is a %q, not natp2p's veth: rename it", vantageLink, l.kind)
	}
	_, err = rtRequest(c, unix.RTM_DELLINK, 0, ifinfomsg(l.index, 0, 0), nil)
	if errors.Is(err, unix.ENODEV) { // gone with its namespace meanwhile
		err = nil
	}
	return err
}

// addVeth creates the pair: the host side as a port of bridge br, up, and
// the peer straight inside the namespace ns.
func addVeth(c *netlink.Conn, br int, ns *os.File) error {
	peer := netlink.NewAttributeEncoder()
	peer.String(unix.IFLA_IFNAME, vantagePeer)
	peer.Bytes(unix.IFLA_ADDRESS, vantageMAC)
	peer.Uint32(unix.IFLA_NET_NS_FD, uint32(ns.Fd()))
	peerAttrs, err := peer.Encode()
	if err != nil {
		return err
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, vantageLink)
	ae.Bytes(unix.IFLA_ADDRESS, vantageHostMAC)
	ae.Uint32(unix.IFLA_MASTER, uint32(br))
	ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.IFLA_INFO_KIND, "veth")
		nae.Nested(unix.IFLA_INFO_DATA, func(d *netlink.AttributeEncoder) error {
			d.Bytes(vethInfoPeer, append(ifinfomsg(0, 0, 0), peerAttrs...))
			return nil
		})
		return nil
	})
	_, err = rtRequest(c, unix.RTM_NEWLINK, netlink.Create|netlink.Excl, ifinfomsg(0, 0, 0), ae)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return errNoVeth // no "veth" link kind: the module is missing
	case err != nil:
		return fmt.Errorf("create the veth pair: %w", err)
	}
	l, ok, err := linkByName(c, vantageLink)
	if err != nil || !ok {
		return fmt.Errorf("the new %s is gone: %v", vantageLink, err)
	}
	quietIPv6(c, l.index)
	return setUp(c, l.index)
}

// setupInside gives the namespace's end its address and the default route
// via the router, as DHCP would give a LAN host, and brings loopback up:
// without it a packet to the namespace's own address (a NAT that does not
// translate, hairpinning to oneself) would be dropped, unlike on a host.
func setupInside(ns *os.File, addr netip.Prefix, router netip.Addr) error {
	c, err := dialRoute(int(ns.Fd()))
	if err != nil {
		return err
	}
	defer c.Close()
	lo, ok, err := linkByName(c, "lo")
	if err != nil || !ok {
		return fmt.Errorf("no loopback inside: %v", err)
	}
	if err := setUp(c, lo.index); err != nil {
		return err
	}
	l, ok, err := linkByName(c, vantagePeer)
	if err != nil || !ok {
		return fmt.Errorf("no %s inside: %v", vantagePeer, err)
	}
	quietIPv6(c, l.index)
	if err := addAddr(c, l.index, addr); err != nil {
		return err
	}
	if err := setUp(c, l.index); err != nil {
		return err
	}
	return addDefaultRoute(c, l.index, router)
}

// quietIPv6 stops the kernel from giving a link an IPv6 link-local
// address, so the vantage sends no router or neighbour solicitations into
// the LAN. Best effort: a kernel without IPv6 refuses and stays quiet
// anyway.
func quietIPv6(c *netlink.Conn, index int) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(unix.IFLA_AF_SPEC, func(af *netlink.AttributeEncoder) error {
		af.Nested(unix.AF_INET6, func(in6 *netlink.AttributeEncoder) error {
			in6.Uint8(unix.IFLA_INET6_ADDR_GEN_MODE, in6AddrGenModeNone)
			return nil
		})
		return nil
	})
	rtRequest(c, unix.RTM_NEWLINK, 0, ifinfomsg(index, 0, 0), ae)
}

func setUp(c *netlink.Conn, index int) error {
	_, err := rtRequest(c, unix.RTM_NEWLINK, 0, ifinfomsg(index, unix.IFF_UP, unix.IFF_UP), nil)
	if err != nil {
		return fmt.Errorf("set link %d up: %w", index, err)
	}
	return nil
}

func addAddr(c *netlink.Conn, index int, p netip.Prefix) error {
	hdr := make([]byte, unix.SizeofIfAddrmsg)
	hdr[0], hdr[1], hdr[3] = unix.AF_INET, byte(p.Bits()), unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(hdr[4:], uint32(index))
	a := p.Addr().As4()
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, a[:])
	ae.Bytes(unix.IFA_ADDRESS, a[:])
	if _, err := rtRequest(c, unix.RTM_NEWADDR, netlink.Create|netlink.Excl, hdr, ae); err != nil {
		return fmt.Errorf("add address %s: %w", p, err)
	}
	return nil
}

func addDefaultRoute(c *netlink.Conn, index int, gw netip.Addr) error {
	hdr := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST, 0, 0, 0, 0}
	g := gw.As4()
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.RTA_GATEWAY, g[:])
	ae.Uint32(unix.RTA_OIF, uint32(index))
	if _, err := rtRequest(c, unix.RTM_NEWROUTE, netlink.Create|netlink.Excl, hdr, ae); err != nil {
		return fmt.Errorf("add the default route via %s: %w", gw, err)
	}
	return nil
}

// vantageAddr checks the configured address, or picks one that neither
// the router nor a neighbour on the bridge uses.
func vantageAddr(c *netlink.Conn, br int, prefix netip.Prefix, addr netip.Addr) (netip.Addr, error) {
	if addr.IsValid() {
		return addr, checkVantageAddr(prefix, addr)
	}
	used, err := neighbours(c, br)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read the neighbour table: %w", err)
	}
	return pickVantageAddr(prefix, func(a netip.Addr) bool { return used[a] })
}

// ndmsg is struct ndmsg for family AF_INET on link index.
func ndmsg(index int) []byte {
	b := make([]byte, unix.SizeofNdMsg)
	b[0] = unix.AF_INET
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	return b
}

// neighbours returns the IPv4 neighbours of link index that have a link
// address (a host answered for them), except the vantage's own earlier
// entries.
func neighbours(c *netlink.Conn, index int) (map[netip.Addr]bool, error) {
	msgs, err := rtRequest(c, unix.RTM_GETNEIGH, netlink.Dump, ndmsg(0), nil)
	if err != nil {
		return nil, err
	}
	used := map[netip.Addr]bool{}
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofNdMsg || int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))) != index {
			continue
		}
		dst, lladdr := neighbour(m.Data[unix.SizeofNdMsg:])
		if dst.IsValid() && len(lladdr) > 0 && !bytes.Equal(lladdr, vantageMAC) {
			used[dst] = true
		}
	}
	return used, nil
}

// neighbour reads NDA_DST and NDA_LLADDR.
func neighbour(attrs []byte) (dst netip.Addr, lladdr []byte) {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.NDA_DST:
			dst, _ = netip.AddrFromSlice(ad.Bytes())
		case unix.NDA_LLADDR:
			lladdr = ad.Bytes()
		}
	}
	return dst.Unmap(), lladdr
}

// forgetNeighbour deletes the router's ARP entry for the vantage address
// if it points at the vantage, which is gone: a later probe, or a LAN host
// that gets the address, starts afresh.
func forgetNeighbour(c *netlink.Conn, br int, addr netip.Addr) {
	used, err := neighbours(c, br)
	if err != nil || used[addr] { // someone else answers for it now: leave it
		return
	}
	a := addr.As4()
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.NDA_DST, a[:])
	rtRequest(c, unix.RTM_DELNEIGH, 0, ndmsg(br), ae)
}

// ifinfomsg is struct ifinfomsg (AF_UNSPEC) for link index.
func ifinfomsg(index int, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

// rtRequest sends one rtnetlink request (header hdr, then attributes ae) and
// returns the answers. Changes ask for an acknowledgement, which carries
// their error; a get must not (its ack would come as a second datagram
// after the answer, and the next request would read it).
func rtRequest(c *netlink.Conn, typ uint16, flags netlink.HeaderFlags, hdr []byte, ae *netlink.AttributeEncoder) ([]netlink.Message, error) {
	data := hdr
	if ae != nil {
		attrs, err := ae.Encode()
		if err != nil {
			return nil, err
		}
		data = append(append([]byte(nil), hdr...), attrs...)
	}
	msg := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ),
		Flags: netlink.Request | flags}, Data: data}
	if typ != unix.RTM_GETLINK && typ != unix.RTM_GETNEIGH {
		msg.Header.Flags |= netlink.Acknowledge
	}
	return c.Execute(msg)
}

// newNetns creates an anonymous network namespace and returns a handle
// that keeps it alive: it dies when the handle is closed and no socket or
// link holds it any more.
func newNetns() (*os.File, error) {
	var ns *os.File
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return errNoNetns
			}
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, func() (err error) {
		ns, err = os.Open(threadNetns())
		return err
	})
	return ns, err
}

// inNetns runs fn on a thread inside the namespace ns.
func inNetns(ns int, fn func() error) error {
	return onThread(func() error { return unix.Setns(ns, unix.CLONE_NEWNET) }, fn)
}

// onThread runs enter and then fn on a goroutine locked to its OS thread,
// and then moves the thread back to the agent's namespace. A thread that
// cannot move back stays locked, and the Go runtime ends it with the
// goroutine: no other goroutine ever runs in the wrong namespace.
func onThread(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open(threadNetns())
		if err != nil {
			errc <- err
			return // still locked: the thread goes with the goroutine
		}
		defer back.Close()
		if err := enter(); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := unix.Setns(int(back.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// threadNetns is the calling thread's network namespace in procfs (not
// /proc/self, which is the process's main thread).
func threadNetns() string {
	return fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
}
