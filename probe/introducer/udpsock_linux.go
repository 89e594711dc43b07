package introducer

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSocket is a bound UDP socket in blocking mode. Its readers sit in
// recvfrom on their own threads instead of Go's netpoller: a busy server
// then pays no poller round trip, no goroutine wakeup and no fd lock per
// datagram, and several readers share one socket without contention.
// The raw recvfrom and sendto below, with the socket addresses on the
// reader's side, allocate nothing per datagram.
type udpSocket struct {
	addr netip.AddrPort
	fd   int
}

// bindUDP opens a blocking UDP socket bound to a. Errors read like the
// net package's ("listen udp4 192.0.2.1:3478: bind: address already in
// use") and wrap the errno.
func bindUDP(a netip.AddrPort) (*udpSocket, error) {
	family, network := unix.AF_INET, "udp4"
	if a.Addr().Is6() {
		family, network = unix.AF_INET6, "udp6"
	}
	fail := func(call string, err error) (*udpSocket, error) {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(a),
			Err: os.NewSyscallError(call, err)}
	}
	scope, err := zoneIndex(a.Addr().Zone())
	if err != nil {
		return fail("bind", err)
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return fail("socket", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	} else {
		// IPv6 only, as the net package's udp6 (an IPv4 address is its own socket).
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return fail("setsockopt", err)
		}
		sa = &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16(), ZoneId: scope}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return fail("bind", err)
	}
	return &udpSocket{addr: a, fd: fd}, nil
}

// zoneIndex is the interface index of an IPv6 zone (a name or a number).
func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}

// stopReading wakes the socket's readers blocked in recvfrom, which from
// then on returns 0 at once (the kernel answers ENOTCONN for an
// unconnected socket, but shuts reading down all the same).
func (u *udpSocket) stopReading() { unix.Shutdown(u.fd, unix.SHUT_RD) }

func (u *udpSocket) close() { unix.Close(u.fd) }

// peer is a datagram's source as the kernel gave it (the raw address,
// with room for IPv6, and its length), and the destination of its
// reply. Each reader has its own, so that nothing is allocated per
// datagram.
type peer struct {
	raw unix.RawSockaddrInet6
	len uint32
	dst unix.RawSockaddrInet6
}

// recv reads one datagram into b, blocking; src is its source (IPv4 as
// such, and without a zone: the scope stays in p for the reply).
func (u *udpSocket) recv(b []byte, p *peer) (n int, src netip.AddrPort, err error) {
	for {
		p.len = uint32(unsafe.Sizeof(p.raw))
		r, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(u.fd), uintptr(unsafe.Pointer(&b[0])),
			uintptr(len(b)), 0, uintptr(unsafe.Pointer(&p.raw)), uintptr(unsafe.Pointer(&p.len)))
		switch errno {
		case 0:
			return int(r), p.addrPort(), nil
		case unix.EINTR: // a signal, not a datagram: read on
		default:
			return 0, netip.AddrPort{}, errno
		}
	}
}

func (p *peer) addrPort() netip.AddrPort {
	if p.len == 0 {
		return netip.AddrPort{} // no source: a read woken by stopReading
	}
	switch p.raw.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.raw))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port(sa.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(p.raw.Addr).Unmap(), port(p.raw.Port))
	}
	return netip.AddrPort{}
}

// port reads a sockaddr's port, in network byte order in memory.
func port(raw uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&raw))[:])
}

// send sends b to `to`, which is the source in p or another port of its
// address (RESPONSE-PORT): p's IPv6 scope is kept.
func (u *udpSocket) send(b []byte, to netip.AddrPort, p *peer) error {
	raw := &p.dst
	*raw = unix.RawSockaddrInet6{}
	size := uintptr(unix.SizeofSockaddrInet6)
	if u.addr.Addr().Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		sa.Family, sa.Addr = unix.AF_INET, to.Addr().As4()
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], to.Port())
		size = unix.SizeofSockaddrInet4
	} else {
		raw.Family, raw.Addr = unix.AF_INET6, to.Addr().As16()
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&raw.Port))[:], to.Port())
		if p.raw.Family == unix.AF_INET6 {
			raw.Scope_id = p.raw.Scope_id
		}
	}
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(u.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), 0, uintptr(unsafe.Pointer(raw)), size)
	if errno != 0 {
		return errno
	}
	return nil
}
