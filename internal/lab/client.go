//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// replyWait is how long Send waits for echo replies.
const replyWait = time.Second

var probePayload = []byte("natp2p-lab")

// UDPSession is a UDP socket held open in a namespace, so that the
// conntrack flows it created stay alive. The lab closes it on Close.
type UDPSession struct {
	Local netip.AddrPort // local address (unspecified address replaced by NS.Addr)

	conn *net.UDPConn
	lab  *Lab
	once sync.Once
	err  error
}

// OpenUDP binds a UDP socket in this namespace. A zero or invalid src
// address means any address; port 0 means an ephemeral port.
func (n *NS) OpenUDP(src netip.AddrPort) (*UDPSession, error) {
	var conn *net.UDPConn
	err := n.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: src.Addr().AsSlice(), Port: int(src.Port())})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab: bind udp %v in %s: %w", src, n.Name, err)
	}
	s := &UDPSession{conn: conn, lab: n.lab, Local: n.localAddr(conn.LocalAddr())}
	if err := n.lab.track.add(s); err != nil {
		return nil, err
	}
	n.lab.cfg.logf("lab: %s: udp socket %v", n.Name, s.Local)
	return s, nil
}

// localAddr converts a socket address, replacing 0.0.0.0 by n.Addr().
func (n *NS) localAddr(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	}
	ap = unmap(ap)
	if ap.Addr().IsUnspecified() {
		ap = netip.AddrPortFrom(n.Addr(), ap.Port())
	}
	return ap
}

// Close closes the socket; it is idempotent.
func (s *UDPSession) Close() error {
	s.once.Do(func() {
		s.lab.track.remove(s)
		s.err = s.conn.Close()
	})
	return s.err
}

// Send sends one datagram to each dst, then waits up to 1 s (or until ctx
// is done) for echo replies. It returns the destinations that replied,
// in the order of dsts; missing replies are not an error.
func (s *UDPSession) Send(ctx context.Context, dsts ...netip.AddrPort) ([]netip.AddrPort, error) {
	s.drain()
	for _, d := range dsts {
		if _, err := s.conn.WriteToUDPAddrPort(probePayload, d); err != nil {
			return nil, fmt.Errorf("lab: send udp %v -> %v: %w", s.Local, d, err)
		}
	}
	got := s.collect(ctx, dsts)
	var replied []netip.AddrPort
	for _, d := range dsts {
		if got[unmap(d)] {
			replied = append(replied, d)
		}
	}
	return replied, ctx.Err()
}

// Heard waits up to 1 s (or until ctx is done) for datagrams from the
// given sources (port 0: any port of that address), without sending, and
// returns those heard from in the order of froms. Datagrams queued since the last Send count: a test sends
// from elsewhere, then asks who reached this socket, and from where.
func (s *UDPSession) Heard(ctx context.Context, froms ...netip.AddrPort) []netip.AddrPort {
	got := s.collect(ctx, froms)
	var heard []netip.AddrPort
	for _, f := range froms {
		if got[unmap(f)] {
			heard = append(heard, f)
		}
	}
	return heard
}

// drain discards replies left over from an earlier Send.
func (s *UDPSession) drain() {
	buf := make([]byte, 2048)
	_ = s.conn.SetReadDeadline(time.Now())
	for i := 0; i < 1<<12; i++ {
		if _, _, err := s.conn.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
	}
}

// collect reads replies until every dst answered, 1 s passed or ctx is
// done; it re-checks ctx at least every 100 ms.
func (s *UDPSession) collect(ctx context.Context, dsts []netip.AddrPort) map[netip.AddrPort]bool {
	want := make(map[netip.AddrPort]bool, len(dsts))
	for _, d := range dsts {
		want[unmap(d)] = false
	}
	got, buf := make(map[netip.AddrPort]bool), make([]byte, 2048)
	end := time.Now().Add(replyWait)
	for len(got) < len(want) && ctx.Err() == nil && time.Now().Before(end) {
		_ = s.conn.SetReadDeadline(minTime(end, time.Now().Add(100*time.Millisecond)))
		_, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			continue
		}
		from = unmap(from)
		if _, ok := want[from]; ok {
			got[from] = true
		} else if anyPort := netip.AddrPortFrom(from.Addr(), 0); hasKey(want, anyPort) {
			got[anyPort] = true // port 0: any port of that address
		}
	}
	return got
}

func hasKey(m map[netip.AddrPort]bool, k netip.AddrPort) bool {
	_, ok := m[k]
	return ok
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// SendUDP binds src in this namespace (zero address = any, port 0 =
// ephemeral), sends one datagram to each dst and waits up to 1 s for echo
// replies (missing replies are ignored). The socket stays open, keeping
// the flows alive, until c is closed or the lab is closed. c is a
// *UDPSession; use OpenUDP and Send to learn which destinations replied.
func (n *NS) SendUDP(ctx context.Context, src netip.AddrPort, dsts ...netip.AddrPort) (local netip.AddrPort, c io.Closer, err error) {
	s, err := n.OpenUDP(src)
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	if _, err := s.Send(ctx, dsts...); err != nil {
		s.Close()
		return netip.AddrPort{}, nil, err
	}
	return s.Local, s, nil
}

// TCPSession is a set of open TCP connections made by DialTCP.
type TCPSession struct {
	Conns []*net.TCPConn
	lab   *Lab
	once  sync.Once
}

// Close closes every connection; it is idempotent.
func (s *TCPSession) Close() error {
	var errs []error
	s.once.Do(func() {
		s.lab.track.remove(s)
		for _, c := range s.Conns {
			errs = append(errs, c.Close())
		}
	})
	return errors.Join(errs...)
}

// DialTCP connects from src (zero address = any, port 0 = ephemeral; a
// fixed port is shared by all connections via SO_REUSEADDR) to each dst
// and returns the open connections as one io.Closer (a *TCPSession). Each
// connect is bounded by ctx and by 3 s.
func (n *NS) DialTCP(ctx context.Context, src netip.AddrPort, dsts ...netip.AddrPort) (io.Closer, error) {
	s := &TCPSession{lab: n.lab}
	if err := n.lab.track.add(s); err != nil {
		return nil, err
	}
	for _, d := range dsts {
		c, err := n.dialOne(ctx, src, d)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Conns = append(s.Conns, c)
		n.lab.cfg.logf("lab: %s: tcp %v -> %v", n.Name, n.localAddr(c.LocalAddr()), d)
	}
	return s, nil
}

func (n *NS) dialOne(ctx context.Context, src, dst netip.AddrPort) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: 3 * time.Second, Control: reuseAddr}
	if src.Addr().IsValid() || src.Port() != 0 {
		d.LocalAddr = &net.TCPAddr{IP: src.Addr().AsSlice(), Port: int(src.Port())}
	}
	var conn net.Conn
	err := n.Do(func() (err error) {
		conn, err = d.DialContext(ctx, "tcp4", dst.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab: dial tcp %v -> %v in %s: %w", src, dst, n.Name, err)
	}
	return conn.(*net.TCPConn), nil
}

func reuseAddr(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	return errors.Join(err, serr)
}
