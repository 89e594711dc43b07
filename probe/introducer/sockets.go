package introducer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
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
	socks := &sockets{conns: newConnSet()}
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

// connSet tracks TCP connections, bounded, for shutdown. Deadlines are
// set under its lock, so that a connection never outlives shutdown by
// more than the grace period.
type connSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	stop  time.Time // when shut down: the end of the grace period
}

// maxTCPConns bounds concurrent TCP connections.
const maxTCPConns = 1024

func newConnSet() *connSet { return &connSet{conns: map[net.Conn]struct{}{}} }

// add tracks c; false when shut down or full (the caller closes c).
func (cs *connSet) add(c net.Conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.stop.IsZero() || len(cs.conns) >= maxTCPConns {
		return false
	}
	cs.conns[c] = struct{}{}
	return true
}

func (cs *connSet) remove(c net.Conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.conns, c)
}

// armRead sets c's read deadline for the next request; false once shut
// down (stop reading).
func (cs *connSet) armRead(c net.Conn, idle time.Duration) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.stop.IsZero() {
		return false
	}
	c.SetReadDeadline(time.Now().Add(idle))
	return true
}

// armWrite sets c's write deadline, never past the shutdown grace.
func (cs *connSet) armWrite(c net.Conn, limit time.Duration) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	d := time.Now().Add(limit)
	if !cs.stop.IsZero() && cs.stop.Before(d) {
		d = cs.stop
	}
	c.SetWriteDeadline(d)
}

// shutdown stops reading on every connection at once and lets a response
// being written finish within grace.
func (cs *connSet) shutdown(grace time.Duration) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := time.Now()
	cs.stop = now.Add(grace)
	for c := range cs.conns {
		c.SetReadDeadline(now)
		c.SetWriteDeadline(cs.stop)
	}
}
