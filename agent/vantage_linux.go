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
	vethInfoPeer       = 1      // VETH_INFO_PEER
	in6AddrGenModeNone = 1      // IN6_ADDR_GEN_MODE_NONE
	ifOperUp           = 6      // IF_OPER_UP
	brStateForwarding  = 3      // BR_STATE_FORWARDING
	nlaTypeMask        = 0x3fff // NLA_TYPE_MASK: without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// readyTimeout bounds the wait for the veth to carry packets. The kernel
// turns carrier, queueing and the bridge port on asynchronously (linkwatch
// runs at most once a second). A bridge with STP is refused before.
const readyTimeout = 3 * time.Second

// openVantage builds the LAN-side namespace on bridge lan, whose prefix is
// prefix (its Addr the router's), at addr or, if invalid, at a free
// address it picks. On error it leaves nothing behind.
//
// The rtnetlink messages are encoded here by hand: the agent binary has a
// size budget, and a few fixed messages need no general encoder.
func openVantage(ctx context.Context, lan string, prefix netip.Prefix, addr netip.Addr) (*vantage, error) {
	// The router's namespace, so that close works from any thread.
	host, err := ownNetns()
	if err != nil {
		return nil, err
	}
	c, err := dialRoute(host)
	if err != nil {
		host.Close()
		return nil, err
	}
	defer c.Close()
	br, addr, err := prepareVantage(ctx, c, lan, prefix, addr)
	var ns *os.File
	if err == nil {
		ns, err = newNetns()
	}
	if err != nil {
		host.Close()
		return nil, err
	}
	inside, hostMAC := vantageMACs(br.mac)
	v := &vantage{addr: addr, enter: func(fn func() error) error { return inNetns(ns, fn) },
		close: func() error { return closeVantage(host, ns, br.index, inside) }}
	if err = addVeth(c, br.index, ns, inside, hostMAC); err == nil {
		err = setNeighbour(c, br.index, addr, inside)
	}
	if err == nil {
		var in *netlink.Conn
		if in, err = dialRoute(ns); err == nil {
			err = setupInside(in, netip.PrefixFrom(addr, prefix.Bits()), prefix.Addr(), br.mac)
			in.Close()
		}
	}
	if err == nil {
		err = waitReady(ctx, c, ns)
	}
	if err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

// prepareVantage removes an earlier vantage link and its neighbour
// entries, checks that lan is a bridge and settles the address.
func prepareVantage(ctx context.Context, c *netlink.Conn, lan string, prefix netip.Prefix, addr netip.Addr) (link, netip.Addr, error) {
	if err := removeVantageLink(c); err != nil {
		return link{}, addr, err
	}
	br, err := getLink(c, lan)
	switch {
	case err != nil:
		return br, addr, err
	case br.index == 0:
		return br, addr, errors.New("LAN interface " + lan + " not found")
	case br.kind != "bridge":
		return br, addr, errors.New("LAN interface " + lan + " is a " + or(br.kind, "plain device") + ", not a bridge")
	}
	// Under STP a port added and removed for each probe changes the
	// topology (and the new port listens for twice the forward delay).
	if br.stp {
		return br, addr, errors.New("LAN bridge " + lan + " runs STP: a port for each probe would change its topology")
	}
	// A bridge whose only port is the veth takes the veth's MAC, and
	// 00:00:00:00:00:00 when it goes: the router's LAN MAC would change
	// under its hosts.
	if n, err := countPorts(c, br.index); err != nil || n == 0 {
		return br, addr, or2(err, "LAN bridge "+lan+" has no port: its MAC would follow the probe's veth")
	}
	mac, _ := vantageMACs(br.mac)
	forgetNeighbours(c, br.index, mac)
	addr, err = chooseVantageAddr(ctx, c, br.index, mac, prefix, addr)
	return br, addr, err
}

// waitReady waits until both ends of the veth are operationally up and
// the bridge forwards on the host side: before that, the first packets of
// a probe would be dropped and it would see no answer.
func waitReady(ctx context.Context, c *netlink.Conn, ns *os.File) error {
	inside, err := dialRoute(ns)
	if err != nil {
		return err
	}
	defer inside.Close()
	for deadline := time.Now().Add(readyTimeout); ; time.Sleep(20 * time.Millisecond) {
		h, err := getLink(c, vantageLink)
		i, ierr := getLink(inside, vantagePeer)
		switch {
		case err != nil || ierr != nil:
			return errors.Join(err, ierr)
		case h.operUp && i.operUp && h.portState == brStateForwarding:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("%s did not start forwarding within %v", vantageLink, readyTimeout)
		}
	}
}

// closeVantage deletes the veth pair (one end takes the other along), the
// router's neighbour entry for the vantage, and releases the namespace,
// which the kernel then frees.
func closeVantage(host, ns *os.File, br int, mac []byte) error {
	defer host.Close()
	defer ns.Close()
	c, err := dialRoute(host)
	if err != nil {
		return err
	}
	defer c.Close()
	err = removeVantageLink(c)
	forgetNeighbours(c, br, mac)
	return err
}

// removeVantageLeftover deletes a vantage link that a killed agent left
// (the kernel frees the namespace with the process, and the veth with it,
// but not at once). It touches only a veth of that name.
func removeVantageLeftover() error {
	c, err := dialRoute(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return removeVantageLink(c)
}

// dialRoute opens an rtnetlink socket in the namespace ns (nil: the
// calling thread's).
func dialRoute(ns *os.File) (*netlink.Conn, error) {
	cfg := &netlink.Config{}
	if ns != nil {
		cfg.NetNS = int(ns.Fd())
	}
	// No deadline: rtnetlink answers these requests at once, in the
	// kernel's own context.
	c, err := netlink.Dial(unix.NETLINK_ROUTE, cfg)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	return c, nil
}

// link is what the vantage needs of an RTM_NEWLINK answer.
type link struct {
	index     int    // 0: no such link
	mac       []byte // IFLA_ADDRESS
	kind      string // IFLA_INFO_KIND: "bridge", "veth", ...; empty for a plain device
	operUp    bool   // IFLA_OPERSTATE is IF_OPER_UP
	portState byte   // IFLA_BRPORT_STATE, for a bridge port
	stp       bool   // IFLA_BR_STP_STATE, for a bridge
}

// getLink asks for one link by name (IFLA_IFNAME).
func getLink(c *netlink.Conn, name string) (link, error) {
	var l link
	msgs, err := rtRequest(c, unix.RTM_GETLINK, 0, ifinfomsg(0, 0), nla(unix.IFLA_IFNAME, []byte(name+"\x00")))
	if errors.Is(err, unix.ENODEV) {
		return l, nil
	}
	if err == nil && (len(msgs) == 0 || len(msgs[0].Data) < unix.SizeofIfInfomsg) {
		err = errors.New("short answer")
	}
	if err != nil {
		return l, fmt.Errorf("link %s: %w", name, err)
	}
	d := msgs[0].Data
	l.index = int(binary.NativeEndian.Uint32(d[4:]))
	walk(d[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.IFLA_ADDRESS:
			l.mac = v
		case unix.IFLA_OPERSTATE:
			l.operUp = v[0] == ifOperUp
		case unix.IFLA_LINKINFO:
			walk(v, l.linkInfo)
		}
	})
	return l, nil
}

// countPorts counts the ports of bridge br (links whose IFLA_MASTER it
// is).
func countPorts(c *netlink.Conn, br int) (int, error) {
	msgs, err := rtRequest(c, unix.RTM_GETLINK, netlink.Dump, ifinfomsg(0, 0))
	n := 0
	for _, m := range msgs {
		if len(m.Data) >= unix.SizeofIfInfomsg {
			walk(m.Data[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
				if typ == unix.IFLA_MASTER && len(v) == 4 && int(binary.NativeEndian.Uint32(v)) == br {
					n++
				}
			})
		}
	}
	return n, err
}

// or2 returns err, or an error with text when err is nil.
func or2(err error, text string) error {
	if err != nil {
		return err
	}
	return errors.New(text)
}

// linkInfo reads one IFLA_LINKINFO attribute: the kind, and a bridge
// port's state.
func (l *link) linkInfo(typ uint16, v []byte) {
	switch typ {
	case unix.IFLA_INFO_KIND:
		l.kind = string(bytes.TrimRight(v, "\x00"))
	case unix.IFLA_INFO_DATA: // after IFLA_INFO_KIND; its types are the kind's
		walk(v, func(typ uint16, v []byte) {
			if l.kind == "bridge" && typ == unix.IFLA_BR_STP_STATE && len(v) == 4 {
				l.stp = binary.NativeEndian.Uint32(v) != 0
			}
		})
	case unix.IFLA_INFO_SLAVE_DATA:
		walk(v, func(typ uint16, v []byte) {
			if typ == unix.IFLA_BRPORT_STATE {
				l.portState = v[0]
			}
		})
	}
}

// removeVantageLink deletes the host side of the vantage veth, if one
// exists; a link of that name that is no veth is not ours and stays.
func removeVantageLink(c *netlink.Conn) error {
	l, err := getLink(c, vantageLink)
	switch {
	case err != nil || l.index == 0:
		return err
	case l.kind != "veth":
		return errors.New(vantageLink + " exists and is a " + or(l.kind, "plain device") + ", not natp2p's veth: rename it")
	}
	_, err = rtRequest(c, unix.RTM_DELLINK, 0, ifinfomsg(l.index, 0))
	if errors.Is(err, unix.ENODEV) { // gone with its namespace meanwhile
		err = nil
	}
	return err
}

// addVeth creates the pair: the host side as a port of bridge br, up, and
// the peer straight inside the namespace ns.
func addVeth(c *netlink.Conn, br int, ns *os.File, inside, host []byte) error {
	peer := append(ifinfomsg(0, 0), nla(unix.IFLA_IFNAME, []byte(vantagePeer+"\x00"))...)
	peer = append(peer, nla(unix.IFLA_ADDRESS, inside)...)
	peer = append(peer, nla(unix.IFLA_NET_NS_FD, u32(uint32(ns.Fd())))...)
	info := nla(unix.IFLA_LINKINFO, nla(unix.IFLA_INFO_KIND, []byte("veth")),
		nla(unix.IFLA_INFO_DATA, nla(vethInfoPeer, peer)))
	_, err := rtRequest(c, unix.RTM_NEWLINK, netlink.Create|netlink.Excl, ifinfomsg(0, 0),
		nla(unix.IFLA_IFNAME, []byte(vantageLink+"\x00")), nla(unix.IFLA_ADDRESS, host),
		nla(unix.IFLA_MASTER, u32(uint32(br))), info)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return errNoVeth // no "veth" link kind: the module is missing
	case err != nil:
		return fmt.Errorf("create the veth pair: %w", err)
	}
	// The host side, a bridge port in the router's namespace, needs no
	// link-local address either; best effort, as without IPv6 in the
	// kernel there is none.
	l, err := getLink(c, vantageLink)
	if err == nil {
		rtRequest(c, unix.RTM_NEWLINK, 0, ifinfomsg(l.index, 0), nla(unix.IFLA_AF_SPEC,
			nla(unix.AF_INET6, nla(unix.IFLA_INET6_ADDR_GEN_MODE, []byte{in6AddrGenModeNone}))))
	}
	return quietUp(c, vantageLink, unix.IFF_UP)
}

// setupInside gives the namespace's end its address and the default route
// via the router, as DHCP would give a LAN host, and brings loopback up:
// without it a packet to the namespace's own address (a NAT that does not
// translate, hairpinning to oneself) would be dropped, unlike on a host.
// The end has IFF_NOARP and a permanent entry for the router (at the
// bridge's MAC, routerMAC): it never sends an ARP request, whose sender
// address would overwrite LAN hosts' entries for the vantage's address.
//
// c is an rtnetlink socket in the namespace.
func setupInside(c *netlink.Conn, addr netip.Prefix, router netip.Addr, routerMAC []byte) error {
	if err := quietUp(c, "lo", unix.IFF_UP); err != nil {
		return err
	}
	l, err := getLink(c, vantagePeer)
	if err == nil {
		err = quietUp(c, vantagePeer, unix.IFF_UP|unix.IFF_NOARP)
	}
	if err == nil {
		err = setNeighbour(c, l.index, router, routerMAC)
	}
	if err != nil {
		return err
	}
	a, gw := addr.Addr().As4(), router.As4()
	ifa := []byte{unix.AF_INET, byte(addr.Bits()), 0, unix.RT_SCOPE_UNIVERSE, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(ifa[4:], uint32(l.index))
	if _, err := rtRequest(c, unix.RTM_NEWADDR, netlink.Create|netlink.Excl, ifa,
		nla(unix.IFA_LOCAL, a[:]), nla(unix.IFA_ADDRESS, a[:])); err != nil {
		return fmt.Errorf("namespace address %s: %w", addr, err)
	}
	rtm := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST, 0, 0, 0, 0}
	if _, err := rtRequest(c, unix.RTM_NEWROUTE, netlink.Create|netlink.Excl, rtm,
		nla(unix.RTA_GATEWAY, gw[:]), nla(unix.RTA_OIF, u32(uint32(l.index)))); err != nil {
		return fmt.Errorf("namespace default route via %s: %w", router, err)
	}
	return nil
}

// quietUp sets flags (IFF_UP, ...) on a link.
func quietUp(c *netlink.Conn, name string, flags uint32) error {
	l, err := getLink(c, name)
	if err == nil && l.index == 0 {
		err = errors.New("link " + name + " not found")
	}
	if err != nil {
		return err
	}
	if _, err := rtRequest(c, unix.RTM_NEWLINK, 0, ifinfomsg(l.index, flags)); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// ifinfomsg is struct ifinfomsg (AF_UNSPEC) for link index, changing the
// flags in flags (IFF_UP: bring it up).
//
//go:noinline
func ifinfomsg(index int, flags uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], flags)
	return b
}

// nla encodes one rtnetlink attribute holding data (several: nested
// attributes), padded to 4 bytes. Not inlined: the mipsle binary has a
// size budget, and a dozen inlined copies cost kilobytes.
//
//go:noinline
func nla(typ uint16, data ...[]byte) []byte {
	b := make([]byte, 4)
	for _, d := range data {
		b = append(b, d...)
	}
	binary.NativeEndian.PutUint16(b, uint16(len(b)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	return append(b, make([]byte, -len(b)&3)...)
}

//go:noinline
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// walk calls fn with each attribute's type and data.
func walk(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return
		}
		if n > 4 {
			fn(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[4:n])
		}
		b = b[min(len(b), (n+3)&^3):]
	}
}

// rtRequest sends one rtnetlink request (header hdr, then attributes) and
// returns the answers. Changes ask for an acknowledgement, which carries
// their error; a get must not (its ack would come as a second datagram
// after the answer, and the next request would read it).
func rtRequest(c *netlink.Conn, typ uint16, flags netlink.HeaderFlags, hdr []byte, attrs ...[]byte) ([]netlink.Message, error) {
	data := append([]byte(nil), hdr...)
	for _, a := range attrs {
		data = append(data, a...)
	}
	msg := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags}, Data: data}
	if typ&3 != 2 { // not an RTM_GET*
		msg.Header.Flags |= netlink.Acknowledge
	}
	return c.Execute(msg)
}

// newNetns creates an anonymous network namespace and returns a handle
// that keeps it alive: it dies when the handle is closed and no socket or
// link holds it any more.
func newNetns() (ns *os.File, err error) {
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); errors.Is(err, unix.EINVAL) {
			return errNoNetns
		} else if err != nil {
			return err
		}
		// No IPv6 inside, before any link is there: no link-local address,
		// no SLAAC from the LAN's router advertisements, no solicitations.
		// Absent without IPv6 in the kernel, which is quiet anyway.
		for _, c := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		ns, err = os.Open(threadNetns)
		return err
	})
	return ns, err
}

// inNetns runs fn on a thread inside the namespace ns.
func inNetns(ns *os.File, fn func() error) error {
	return onThread(func() error {
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			return err
		}
		return fn()
	})
}

// onThread runs fn on a goroutine locked to its OS thread, and then moves
// the thread back to the agent's namespace. A thread that cannot move
// back stays locked, and the Go runtime ends it with the goroutine: no
// other goroutine ever runs in the wrong namespace.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open(threadNetns)
		if err != nil {
			errc <- err
			return // still locked: the thread goes with the goroutine
		}
		defer back.Close()
		err = fn()
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// threadNetns is the calling thread's network namespace in procfs (not
// /proc/self, which is the process's main thread's).
const threadNetns = "/proc/thread-self/ns/net"

// ownNetns opens the agent's network namespace: that of the calling
// thread, locked so that no other goroutine can move it meanwhile.
func ownNetns() (*os.File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return os.Open(threadNetns)
}
