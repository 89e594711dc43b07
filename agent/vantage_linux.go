//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// readyTimeout bounds the wait for the veth to carry packets. The kernel
// turns carrier, queueing and the bridge port on asynchronously (linkwatch
// runs at most once a second). A bridge with STP is refused before.
const readyTimeout = 3 * time.Second

// openVantage builds the LAN-side namespace on bridge lan, whose prefix is
// prefix (its Addr the router's), at addr or, if invalid, at a free
// address it picks. On error it leaves nothing behind.
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
	// With a permanent neighbour entry on each side (the namespace's in
	// setupInside), neither the router nor the namespace sends an ARP
	// request for the other, and no LAN host learns the vantage's address.
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
	// The router's entries for the vantage's MAC that a killed agent left.
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

// or2 returns err, or an error with text when err is nil.
func or2(err error, text string) error {
	if err != nil {
		return err
	}
	return errors.New(text)
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
	err = deleteLink(c, l.index)
	if errors.Is(err, unix.ENODEV) { // gone with its namespace meanwhile
		err = nil
	}
	return err
}

// addVeth creates the pair: the host side as a port of bridge br, up, and
// the peer straight inside the namespace ns.
func addVeth(c *netlink.Conn, br int, ns *os.File, inside, host []byte) error {
	err := newVeth(c, veth{name: vantageLink, mac: host, master: br, peer: vantagePeer, peerMAC: inside, peerNS: ns})
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return errNoVeth // no "veth" link kind: the module is missing
	case err != nil:
		return fmt.Errorf("create the veth pair: %w", err)
	}
	// The host side, a bridge port in the router's namespace, needs no
	// link-local address either; best effort, as without IPv6 in the
	// kernel there is none.
	if l, err := getLink(c, vantageLink); err == nil {
		noAddrGen(c, l.index)
	}
	return setLinkFlags(c, vantageLink, unix.IFF_UP)
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
	if err := setLinkFlags(c, "lo", unix.IFF_UP); err != nil {
		return err
	}
	l, err := getLink(c, vantagePeer)
	if err == nil {
		err = setLinkFlags(c, vantagePeer, unix.IFF_UP|unix.IFF_NOARP)
	}
	if err == nil {
		err = setNeighbour(c, l.index, router, routerMAC)
	}
	if err != nil {
		return err
	}
	if err := addAddr4(c, l.index, addr); err != nil {
		return fmt.Errorf("namespace address %s: %w", addr, err)
	}
	if err := addDefaultRoute4(c, l.index, router); err != nil {
		return fmt.Errorf("namespace default route via %s: %w", router, err)
	}
	return nil
}
