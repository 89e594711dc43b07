package introducer

import (
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// errSYNTimeout: nothing came back to a SYN within the bound.
var errSYNTimeout = errors.New("introducer: no answer to the SYN")

// synFrom opens a non-blocking TCP socket on from, on a port the kernel
// picks, and starts connecting it to to: the kernel sends one SYN (its
// first retransmission comes after a second, RFC 6298's initial RTO,
// longer than any bound here). It returns the socket and its address.
func synFrom(from netip.Addr, to netip.AddrPort) (int, netip.AddrPort, error) {
	family := unix.AF_INET
	if from.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	unix.CloseOnExec(fd)
	local, err := bindAndConnect(fd, from, to)
	if err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	return fd, local, nil
}

func bindAndConnect(fd int, from netip.Addr, to netip.AddrPort) (netip.AddrPort, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return netip.AddrPort{}, err
	}
	if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(from, 0))); err != nil {
		return netip.AddrPort{}, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	local := addrPortOf(sa)
	if err := recvErrors(fd, from.Is6()); err != nil {
		return netip.AddrPort{}, err
	}
	if err := unix.Connect(fd, sockaddr(to)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return netip.AddrPort{}, answeredAtOnce{err, local}
	}
	if e := queuedICMP(fd); e != 0 {
		return netip.AddrPort{}, answeredAtOnce{e, local}
	}
	return local, nil
}

// answeredAtOnce is a connect that failed within the call: the kernel
// processed the RST or ICMP error before connect returned, as it can when
// the target is on the same host (loopback). It is an answer to the SYN,
// not a failure to send it. local is the socket's address.
type answeredAtOnce struct {
	err   error
	local netip.AddrPort
}

func (a answeredAtOnce) Error() string { return "connect: " + a.err.Error() }
func (a answeredAtOnce) Unwrap() error { return a.err }

// awaitConnect waits up to d for the connection on fd to come up (nil),
// fail (the kernel's errno: ECONNREFUSED for a RST, EHOSTUNREACH and the
// like for ICMP errors) or time out (errSYNTimeout).
func awaitConnect(fd int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return errSYNTimeout
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			continue // the deadline is checked above
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soerr != 0 {
			return unix.Errno(soerr)
		}
		if e := queuedICMP(fd); e != 0 { // a soft error: see recvErrors
			return e
		}
		if fds[0].Revents&unix.POLLOUT == 0 {
			continue // only an empty error queue woke the poll
		}
		return nil
	}
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if a := ap.Addr().Unmap(); a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
