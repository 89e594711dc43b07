package introducer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// sockets are a running server's sockets, in plan.sockets() order.
type sockets struct {
	stopping atomic.Bool // set by stop: UDP readers return
	udp      []*udpSocket
	tcp      []*tcpSocket
	conns    *connSet
}

type tcpSocket struct {
	addr netip.AddrPort
	ln   *net.TCPListener
}

// listen binds every socket of the plan, or none.
func (s *Server) listen(ctx context.Context) (*sockets, error) {
	socks := &sockets{conns: newConnSet(s.cfg.TCPConns, s.cfg.TCPConnsPerSource)}
	for _, a := range s.h.plan.sockets() {
		if err := socks.bind(ctx, a, s.cfg.TCP); err != nil {
			socks.stop(0)
			socks.release()
			return nil, fmt.Errorf("introducer: %w", err)
		}
	}
	return socks, nil
}

func (socks *sockets) bind(ctx context.Context, a netip.AddrPort, tcp bool) error {
	u, err := bindUDP(a)
	if err != nil {
		return err
	}
	socks.udp = append(socks.udp, u)
	if !tcp {
		return nil
	}
	suffix := "4"
	if a.Addr().Is6() {
		suffix = "6"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp"+suffix, a.String())
	if err != nil {
		return err
	}
	socks.tcp = append(socks.tcp, &tcpSocket{addr: a, ln: ln.(*net.TCPListener)})
	return nil
}

// addrs returns the UDP addresses served.
func (socks *sockets) addrs() []netip.AddrPort {
	as := make([]netip.AddrPort, len(socks.udp))
	for i, u := range socks.udp {
		as[i] = u.addr
	}
	return as
}

// udpFor returns the UDP socket bound to a.
func (socks *sockets) udpFor(a netip.AddrPort) *udpSocket {
	for _, u := range socks.udp {
		if u.addr == a {
			return u
		}
	}
	return nil
}

// stop ends the serving loops: it wakes the UDP readers, closes the TCP
// listeners, and asks TCP connections to finish within grace. The UDP
// sockets stay open until release: a reader may still be sending on
// any of them.
func (socks *sockets) stop(grace time.Duration) {
	socks.stopping.Store(true)
	for _, u := range socks.udp {
		u.stopReading()
	}
	for _, t := range socks.tcp {
		t.ln.Close()
	}
	socks.conns.shutdown(grace)
}

// release closes the UDP sockets, once no reader uses them.
func (socks *sockets) release() {
	for _, u := range socks.udp {
		u.close()
	}
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
