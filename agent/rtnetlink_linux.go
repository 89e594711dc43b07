//go:build linux

package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The rtnetlink requests the vantage sends, and the answers it reads.
// Fixed headers (struct ifinfomsg, ndmsg, ifaddrmsg, rtmsg) are built
// here; attributes go through netlink.AttributeEncoder and
// netlink.AttributeDecoder, in host byte order as rtnetlink wants.

// Kernel constants that x/sys/unix lacks.
const (
	vethInfoPeer       = 1 // VETH_INFO_PEER
	in6AddrGenModeNone = 1 // IN6_ADDR_GEN_MODE_NONE
	ifOperUp           = 6 // IF_OPER_UP
	brStateForwarding  = 3 // BR_STATE_FORWARDING
)

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

// rtRequest sends one rtnetlink request (header hdr, then the attributes
// attrs encodes; nil: none) and returns the answers. Changes ask for an
// acknowledgement, which carries their error; a get must not (its ack
// would come as a second datagram after the answer, and the next request
// would read it).
func rtRequest(c *netlink.Conn, typ uint16, flags netlink.HeaderFlags, hdr []byte, attrs func(*netlink.AttributeEncoder)) ([]netlink.Message, error) {
	data, err := withAttrs(hdr, attrs)
	if err != nil {
		return nil, err
	}
	msg := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags}, Data: data}
	if typ&3 != 2 { // not an RTM_GET*
		msg.Header.Flags |= netlink.Acknowledge
	}
	return c.Execute(msg)
}

// withAttrs returns the fixed header hdr followed by the attributes fn
// encodes (nil: none).
func withAttrs(hdr []byte, fn func(*netlink.AttributeEncoder)) ([]byte, error) {
	if fn == nil {
		return hdr, nil
	}
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	return append(hdr, b...), nil
}

// nest adds attribute typ to ae holding the fixed header hdr (nil: none)
// and the attributes fn encodes. Unlike ae.Nested it leaves NLA_F_NESTED
// unset, as iproute2 does for these rtnetlink attributes.
func nest(ae *netlink.AttributeEncoder, typ uint16, hdr []byte, fn func(*netlink.AttributeEncoder)) {
	ae.Do(typ, func() ([]byte, error) { return withAttrs(hdr, fn) })
}

// decodeAttrs calls fn for each attribute of the message body b, after
// its fixed header of hdrLen bytes.
func decodeAttrs(b []byte, hdrLen int, fn func(*netlink.AttributeDecoder)) error {
	if len(b) < hdrLen {
		return fmt.Errorf("rtnetlink: a message of %d bytes, shorter than its header", len(b))
	}
	ad, err := netlink.NewAttributeDecoder(b[hdrLen:])
	if err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	for ad.Next() {
		fn(ad)
	}
	return ad.Err()
}

// nested calls fn for each attribute nested in ad's current one.
func nested(ad *netlink.AttributeDecoder, fn func(*netlink.AttributeDecoder)) {
	ad.Nested(func(nad *netlink.AttributeDecoder) error {
		for nad.Next() {
			fn(nad)
		}
		return nil
	})
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

// link is what the vantage needs of an RTM_NEWLINK answer.
type link struct {
	index     int    // 0: no such link
	mac       []byte // IFLA_ADDRESS
	master    int    // IFLA_MASTER: the bridge of a bridge port
	kind      string // IFLA_INFO_KIND: "bridge", "veth", ...; empty for a plain device
	operUp    bool   // IFLA_OPERSTATE is IF_OPER_UP
	portState byte   // IFLA_BRPORT_STATE, for a bridge port
	stp       bool   // IFLA_BR_STP_STATE, for a bridge
}

// getLink asks for one link by name (IFLA_IFNAME); its index is 0 if
// there is none.
func getLink(c *netlink.Conn, name string) (link, error) {
	var l link
	msgs, err := rtRequest(c, unix.RTM_GETLINK, 0, ifinfomsg(0, 0), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, name)
	})
	if errors.Is(err, unix.ENODEV) {
		return l, nil
	}
	if err == nil && len(msgs) == 0 {
		err = errors.New("no answer")
	}
	if err == nil {
		err = l.decode(msgs[0].Data)
	}
	if err != nil {
		return link{}, fmt.Errorf("link %s: %w", name, err)
	}
	return l, nil
}

// countPorts counts the ports of bridge br (links whose IFLA_MASTER it
// is).
func countPorts(c *netlink.Conn, br int) (int, error) {
	msgs, err := rtRequest(c, unix.RTM_GETLINK, netlink.Dump, ifinfomsg(0, 0), nil)
	n := 0
	for _, m := range msgs {
		var l link
		if err := l.decode(m.Data); err != nil {
			return n, fmt.Errorf("links: %w", err)
		}
		if l.master == br {
			n++
		}
	}
	return n, err
}

// decode reads an RTM_NEWLINK message body.
func (l *link) decode(b []byte) error {
	if len(b) >= unix.SizeofIfInfomsg {
		l.index = int(binary.NativeEndian.Uint32(b[4:]))
	}
	return decodeAttrs(b, unix.SizeofIfInfomsg, func(ad *netlink.AttributeDecoder) {
		switch ad.Type() {
		case unix.IFLA_ADDRESS:
			l.mac = ad.Bytes()
		case unix.IFLA_MASTER:
			l.master = int(ad.Uint32())
		case unix.IFLA_OPERSTATE:
			l.operUp = ad.Uint8() == ifOperUp
		case unix.IFLA_LINKINFO:
			var slave string
			nested(ad, func(ad *netlink.AttributeDecoder) { l.linkInfo(ad, &slave) })
		}
	})
}

// linkInfo reads one IFLA_LINKINFO attribute: the kind, a bridge's STP
// state and a bridge port's state. The kernel sends each kind before its
// data, whose types are the kind's; slave is the IFLA_INFO_SLAVE_KIND.
func (l *link) linkInfo(ad *netlink.AttributeDecoder, slave *string) {
	switch ad.Type() {
	case unix.IFLA_INFO_KIND:
		l.kind = ad.String()
	case unix.IFLA_INFO_SLAVE_KIND:
		*slave = ad.String()
	case unix.IFLA_INFO_DATA:
		nested(ad, func(ad *netlink.AttributeDecoder) {
			if l.kind == "bridge" && ad.Type() == unix.IFLA_BR_STP_STATE {
				l.stp = ad.Uint32() != 0
			}
		})
	case unix.IFLA_INFO_SLAVE_DATA:
		nested(ad, func(ad *netlink.AttributeDecoder) {
			if *slave == "bridge" && ad.Type() == unix.IFLA_BRPORT_STATE {
				l.portState = ad.Uint8()
			}
		})
	}
}

// veth is a veth pair to create: the near end, named name with MAC mac, a
// port of bridge master, and the peer, named peer with MAC peerMAC,
// straight inside the namespace peerNS.
type veth struct {
	name, peer   string
	mac, peerMAC []byte
	master       int
	peerNS       *os.File
}

// newVeth creates the veth pair v (down).
func newVeth(c *netlink.Conn, v veth) error {
	_, err := rtRequest(c, unix.RTM_NEWLINK, netlink.Create|netlink.Excl, ifinfomsg(0, 0), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, v.name)
		ae.Bytes(unix.IFLA_ADDRESS, v.mac)
		ae.Uint32(unix.IFLA_MASTER, uint32(v.master))
		nest(ae, unix.IFLA_LINKINFO, nil, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFLA_INFO_KIND, []byte("veth")) // NLA_STRING: no NUL needed
			nest(ae, unix.IFLA_INFO_DATA, nil, func(ae *netlink.AttributeEncoder) {
				nest(ae, vethInfoPeer, ifinfomsg(0, 0), func(ae *netlink.AttributeEncoder) {
					ae.String(unix.IFLA_IFNAME, v.peer)
					ae.Bytes(unix.IFLA_ADDRESS, v.peerMAC)
					ae.Uint32(unix.IFLA_NET_NS_FD, uint32(v.peerNS.Fd()))
				})
			})
		})
	})
	return err
}

// deleteLink deletes link index (a veth takes its peer along).
func deleteLink(c *netlink.Conn, index int) error {
	_, err := rtRequest(c, unix.RTM_DELLINK, 0, ifinfomsg(index, 0), nil)
	return err
}

// noAddrGen tells the kernel to give link index no IPv6 link-local
// address (IN6_ADDR_GEN_MODE_NONE).
func noAddrGen(c *netlink.Conn, index int) error {
	_, err := rtRequest(c, unix.RTM_NEWLINK, 0, ifinfomsg(index, 0), func(ae *netlink.AttributeEncoder) {
		nest(ae, unix.IFLA_AF_SPEC, nil, func(ae *netlink.AttributeEncoder) {
			nest(ae, unix.AF_INET6, nil, func(ae *netlink.AttributeEncoder) {
				ae.Uint8(unix.IFLA_INET6_ADDR_GEN_MODE, in6AddrGenModeNone)
			})
		})
	})
	return err
}

// setLinkFlags sets flags (IFF_UP, ...) on the link named name.
func setLinkFlags(c *netlink.Conn, name string, flags uint32) error {
	l, err := getLink(c, name)
	if err == nil && l.index == 0 {
		err = errors.New("link " + name + " not found")
	}
	if err != nil {
		return err
	}
	if _, err := rtRequest(c, unix.RTM_NEWLINK, 0, ifinfomsg(l.index, flags), nil); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}
