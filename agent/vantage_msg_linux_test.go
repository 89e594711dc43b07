//go:build linux

package agent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// The rtnetlink messages the vantage encodes by hand, byte for byte.
// Integers are in host byte order, as rtnetlink wants, so these tests
// also hold on big-endian MIPS (scripts/test-cross.sh).

// b concatenates byte slices, strings and host-order integers (u16, u32).
func b(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			out = append(out, p...)
		case string:
			out = append(out, p...)
		case u16v:
			out = binary.NativeEndian.AppendUint16(out, uint16(p))
		case u32v:
			out = binary.NativeEndian.AppendUint32(out, uint32(p))
		default:
			panic(fmt.Sprintf("b: %T", p))
		}
	}
	return out
}

type (
	u16v uint16
	u32v uint32
)

// req is one recorded request: type, flags and body.
type req struct {
	typ   uint16
	flags netlink.HeaderFlags
	data  []byte
}

// fakeRoute records requests; GETLINK answers with link index 7, a veth,
// and everything else is acknowledged with an echo.
func fakeRoute(t *testing.T, got *[]req) *netlink.Conn {
	t.Helper()
	c := nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		for _, m := range reqs {
			*got = append(*got, req{uint16(m.Header.Type), m.Header.Flags, m.Data})
		}
		if m := reqs[0]; m.Header.Type == unix.RTM_GETLINK && m.Header.Flags&netlink.Dump == 0 {
			m.Header.Type = unix.RTM_NEWLINK
			m.Data = b(make([]byte, 4), u32v(7), make([]byte, 8),
				u16v(16), u16v(unix.IFLA_LINKINFO), u16v(9), u16v(unix.IFLA_INFO_KIND), "veth\x00\x00\x00\x00")
			return []netlink.Message{m}, nil
		}
		return reqs, nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func checkReqs(t *testing.T, got, want []req) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].typ != want[i].typ || got[i].flags != want[i].flags || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("request %d:\ngot  type %d flags %d % x\nwant type %d flags %d % x", i,
				got[i].typ, uint16(got[i].flags), got[i].data, want[i].typ, uint16(want[i].flags), want[i].data)
		}
	}
}

const (
	get    = netlink.Request
	change = netlink.Request | netlink.Acknowledge
	create = change | netlink.Create | netlink.Excl
)

// ifi is struct ifinfomsg for index with flags (and the same change mask).
func ifi(index, flags uint32) []byte {
	return b(make([]byte, 4), u32v(index), u32v(flags), u32v(flags))
}

// getLinkReq asks for a link by name.
func getLinkReq(name string) req {
	n := 4 + len(name) + 1 // header, name, NUL
	return req{unix.RTM_GETLINK, get, b(ifi(0, 0), u16v(n), u16v(unix.IFLA_IFNAME), name, make([]byte, 1+(-n&3)))}
}

func TestAddVethMessages(t *testing.T) {
	ns, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var got []req
	inside := []byte{0x06, 0x6e, 0x70, 0, 0, 1}
	host := []byte{0xfe, 0x6e, 0x70, 0, 0, 1}
	if err := addVeth(fakeRoute(t, &got), 3, ns, inside, host); err != nil {
		t.Fatal(err)
	}
	fd := u32v(ns.Fd())
	newlink := b(ifi(0, 0),
		u16v(15), u16v(unix.IFLA_IFNAME), "np2p-vant0\x00\x00",
		u16v(10), u16v(unix.IFLA_ADDRESS), host, "\x00\x00",
		u16v(8), u16v(unix.IFLA_MASTER), u32v(3),
		u16v(68), u16v(unix.IFLA_LINKINFO),
		u16v(8), u16v(unix.IFLA_INFO_KIND), "veth", // NLA_STRING: no NUL needed
		u16v(56), u16v(unix.IFLA_INFO_DATA),
		u16v(52), u16v(1), // VETH_INFO_PEER
		ifi(0, 0),
		u16v(9), u16v(unix.IFLA_IFNAME), "eth0\x00\x00\x00\x00",
		u16v(10), u16v(unix.IFLA_ADDRESS), inside, "\x00\x00",
		u16v(8), u16v(unix.IFLA_NET_NS_FD), fd)
	genMode := b(ifi(7, 0), u16v(16), u16v(unix.IFLA_AF_SPEC), u16v(12), u16v(unix.AF_INET6),
		u16v(5), u16v(unix.IFLA_INET6_ADDR_GEN_MODE), []byte{1, 0, 0, 0})
	checkReqs(t, got, []req{
		{unix.RTM_NEWLINK, create, newlink},
		getLinkReq("np2p-vant0"),
		{unix.RTM_NEWLINK, change, genMode},
		getLinkReq("np2p-vant0"),
		{unix.RTM_NEWLINK, change, ifi(7, unix.IFF_UP)},
	})
}

func TestSetupInsideMessages(t *testing.T) {
	var got []req
	err := setupInside(fakeRoute(t, &got), netip.MustParsePrefix("198.51.100.254/24"), netip.MustParseAddr("198.51.100.1"),
		[]byte{0x02, 0x6e, 0x70, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	checkReqs(t, got, []req{
		getLinkReq("lo"),
		{unix.RTM_NEWLINK, change, ifi(7, unix.IFF_UP)},
		getLinkReq("eth0"),
		getLinkReq("eth0"),
		{unix.RTM_NEWLINK, change, ifi(7, unix.IFF_UP|unix.IFF_NOARP)},
		{unix.RTM_NEWNEIGH, change | netlink.Create | netlink.Replace, b([]byte{unix.AF_INET, 0, 0, 0}, u32v(7), u16v(unix.NUD_PERMANENT), []byte{0, 0},
			u16v(8), u16v(unix.NDA_DST), []byte{198, 51, 100, 1},
			u16v(10), u16v(unix.NDA_LLADDR), []byte{0x02, 0x6e, 0x70, 0, 0, 1, 0, 0})},
		{unix.RTM_NEWADDR, create, b([]byte{unix.AF_INET, 24, 0, unix.RT_SCOPE_UNIVERSE}, u32v(7),
			u16v(8), u16v(unix.IFA_LOCAL), []byte{198, 51, 100, 254},
			u16v(8), u16v(unix.IFA_ADDRESS), []byte{198, 51, 100, 254})},
		{unix.RTM_NEWROUTE, create, b([]byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST, 0, 0, 0, 0},
			u16v(8), u16v(unix.RTA_GATEWAY), []byte{198, 51, 100, 1},
			u16v(8), u16v(unix.RTA_OIF), u32v(7))},
	})
}

func TestRemoveVantageLinkMessages(t *testing.T) {
	var got []req
	if err := removeVantageLink(fakeRoute(t, &got)); err != nil {
		t.Fatal(err)
	}
	checkReqs(t, got, []req{getLinkReq("np2p-vant0"), {unix.RTM_DELLINK, change, ifi(7, 0)}})
}
