//go:build !linux

package introducer

import (
	"errors"
	"net"
	"net/netip"
)

// The UDP sockets use Linux's blocking recvfrom and sendto (see
// udpsock_linux.go); elsewhere the package builds but cannot serve.

var errNotLinux = errors.New("the introducer serves on Linux only")

type udpSocket struct {
	addr netip.AddrPort
}

type peer struct{}

func bindUDP(a netip.AddrPort) (*udpSocket, error) {
	return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(a), Err: errNotLinux}
}

func (u *udpSocket) stopReading() {}
func (u *udpSocket) close()       {}

func (u *udpSocket) recv([]byte, *peer) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, net.ErrClosed
}

func (u *udpSocket) send([]byte, netip.AddrPort, *peer) error { return errNotLinux }
