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
// netlink.AttributeDecoder, in host byte order as rtnetlink wants. They
// cost the mipsle binary about 15 KB of code and tables more than the
// hand encoder they replaced (an allocation per attribute, and their
// small methods are inlined at each call), for a few requests a probe.

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
// in ae; nil: none) and returns the answers. Changes ask for an
// acknowledgement, which carries their error; a get must not (its ack
// would come as a second datagram after the answer, and the next request
// would read it).
func rtRequest(c *netlink.Conn, typ uint16, flags netlink.HeaderFlags, hdr []byte, ae *netlink.AttributeEncoder) ([]netlink.Message, error) {
	data, err := encode(hdr, ae)
	if err != nil {
		return nil, err
	}
	msg := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags}, Data: data}
	if typ&3 != 2 { // not an RTM_GET*
		msg.Header.Flags |= netlink.Acknowledge
	}
	return c.Execute(msg)
}

// encode returns the fixed header hdr followed by the attributes in ae
// (nil: none).
func encode(hdr []byte, ae *netlink.AttributeEncoder) ([]byte, error) {
	if ae == nil {
		return hdr, nil
	}
	b, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	return append(hdr, b...), nil
}

// nest adds to ae attribute typ holding the fixed header hdr (nil: none)
// and the attributes in nae. Unlike ae.Nested it leaves NLA_F_NESTED
// unset, as iproute2 does for these rtnetlink attributes.
func nest(ae *netlink.AttributeEncoder, typ uint16, hdr []byte, nae *netlink.AttributeEncoder) {
	ae.Do(typ, func() ([]byte, error) { return encode(hdr, nae) })
}

// decoder returns a decoder of the attributes of the message body b,
// after its fixed header of hdrLen bytes.
func decoder(b []byte, hdrLen int) (*netlink.AttributeDecoder, error) {
	if len(b) < hdrLen {
		return nil, fmt.Errorf("rtnetlink: a message of %d bytes, shorter than its header", len(b))
	}
	ad, err := netlink.NewAttributeDecoder(b[hdrLen:])
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	return ad, nil
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
	master    int    // IFLA_MASTER: for a bridge port, the bridge
	kind      string // IFLA_INFO_KIND: "bridge", "veth", ...; empty for a plain device
	operUp    bool   // IFLA_OPERSTATE is IF_OPER_UP
	portState byte   // IFLA_BRPORT_STATE, for a bridge port
	stp       bool   // IFLA_BR_STP_STATE, for a bridge
}

// getLink asks for one link by name (IFLA_IFNAME); its index is 0 if
// there is none.
func getLink(c *netlink.Conn, name string) (link, error) {
	var l link
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, name)
	msgs, err := rtRequest(c, unix.RTM_GETLINK, 0, ifinfomsg(0, 0), ae)
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
	ad, err := decoder(b, unix.SizeofIfInfomsg)
	if err != nil {
		return err
	}
	l.index = int(binary.NativeEndian.Uint32(b[4:]))
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_ADDRESS:
			l.mac = ad.Bytes()
		case unix.IFLA_MASTER:
			l.master = int(ad.Uint32())
		case unix.IFLA_OPERSTATE:
			l.operUp = ad.Uint8() == ifOperUp
		case unix.IFLA_LINKINFO:
			ad.Nested(l.linkInfo)
		}
	}
	return ad.Err()
}

// linkInfo reads the attributes nested in IFLA_LINKINFO: the kind, a
// bridge's STP state and a bridge port's state. The kernel sends each
// kind before its data, whose attribute types are the kind's.
func (l *link) linkInfo(ad *netlink.AttributeDecoder) error {
	var slave string // IFLA_INFO_SLAVE_KIND
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_INFO_KIND:
			l.kind = ad.String()
		case unix.IFLA_INFO_SLAVE_KIND:
			slave = ad.String()
		case unix.IFLA_INFO_DATA:
			if l.kind == "bridge" {
				ad.Nested(l.bridge)
			}
		case unix.IFLA_INFO_SLAVE_DATA:
			if slave == "bridge" {
				ad.Nested(l.bridgePort)
			}
		}
	}
	return nil // Nested returns the decoder's error
}

// bridge reads a bridge's IFLA_INFO_DATA.
func (l *link) bridge(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		if ad.Type() == unix.IFLA_BR_STP_STATE {
			l.stp = ad.Uint32() != 0
		}
	}
	return nil
}

// bridgePort reads a bridge port's IFLA_INFO_SLAVE_DATA.
func (l *link) bridgePort(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		if ad.Type() == unix.IFLA_BRPORT_STATE {
			l.portState = ad.Uint8()
		}
	}
	return nil
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

// newVeth creates the veth pair v (down). Its IFLA_LINKINFO holds
// IFLA_INFO_KIND "veth" and IFLA_INFO_DATA, which holds VETH_INFO_PEER:
// the peer's struct ifinfomsg and attributes.
func newVeth(c *netlink.Conn, v veth) error {
	peer := netlink.NewAttributeEncoder()
	peer.String(unix.IFLA_IFNAME, v.peer)
	peer.Bytes(unix.IFLA_ADDRESS, v.peerMAC)
	peer.Uint32(unix.IFLA_NET_NS_FD, uint32(v.peerNS.Fd()))
	data := netlink.NewAttributeEncoder()
	nest(data, vethInfoPeer, ifinfomsg(0, 0), peer)
	info := netlink.NewAttributeEncoder()
	info.Bytes(unix.IFLA_INFO_KIND, []byte("veth")) // NLA_STRING: no NUL needed
	nest(info, unix.IFLA_INFO_DATA, nil, data)
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, v.name)
	ae.Bytes(unix.IFLA_ADDRESS, v.mac)
	ae.Uint32(unix.IFLA_MASTER, uint32(v.master))
	nest(ae, unix.IFLA_LINKINFO, nil, info)
	_, err := rtRequest(c, unix.RTM_NEWLINK, netlink.Create|netlink.Excl, ifinfomsg(0, 0), ae)
	return err
}

// deleteLink deletes link index (a veth takes its peer along).
func deleteLink(c *netlink.Conn, index int) error {
	_, err := rtRequest(c, unix.RTM_DELLINK, 0, ifinfomsg(index, 0), nil)
	return err
}

// noAddrGen tells the kernel to give link index no IPv6 link-local
// address: IFLA_AF_SPEC holds AF_INET6, which holds
// IFLA_INET6_ADDR_GEN_MODE IN6_ADDR_GEN_MODE_NONE.
func noAddrGen(c *netlink.Conn, index int) error {
	mode := netlink.NewAttributeEncoder()
	mode.Uint8(unix.IFLA_INET6_ADDR_GEN_MODE, in6AddrGenModeNone)
	inet6 := netlink.NewAttributeEncoder()
	nest(inet6, unix.AF_INET6, nil, mode)
	ae := netlink.NewAttributeEncoder()
	nest(ae, unix.IFLA_AF_SPEC, nil, inet6)
	_, err := rtRequest(c, unix.RTM_NEWLINK, 0, ifinfomsg(index, 0), ae)
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
