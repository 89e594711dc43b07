package introducer

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/natp2p/natp2p/probe/stun"
)

var errFraming = errors.New("introducer: not a STUN stream")

// serveTCP accepts connections on t until it is closed. Each accepted
// connection costs its source a token, and must fit in the source's and
// the server's connection limits; it lives Config.TCPLife at most (RFC
// 8489 6.2.2 lets the server close connections, and asks it to manage
// them under overload).
func (s *Server) serveTCP(wg *sync.WaitGroup, conns *connSet, t *tcpSocket) {
	for {
		c, err := t.ln.AcceptTCP()
		if err != nil {
			if isClosed(err) {
				return
			}
			s.log.Debug("tcp accept", "addr", t.addr, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.stats.tcpConns.Add(1)
		src := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if !s.admit(conns, c, src.Addr()) {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.serveConn(conns, c, src, t.addr) }()
	}
}

// admit takes a token from src's bucket and a place for c in conns,
// counting a refusal.
func (s *Server) admit(conns *connSet, c *net.TCPConn, src netip.Addr) bool {
	now := s.now()
	if !s.limit.allow(src, now) {
		s.stats.rateLimited.Add(1)
		return false
	}
	if !conns.add(c, src, now.Add(s.cfg.TCPLife)) {
		s.stats.tcpRefused.Add(1)
		return false
	}
	return true
}

// serveConn answers the requests of one connection until it closes,
// reaches the end of its life or its number of requests, breaks the STUN
// framing or the server shuts down.
func (s *Server) serveConn(conns *connSet, c *net.TCPConn, src, local netip.AddrPort) {
	defer conns.remove(c)
	defer c.Close()
	var buf, out []byte
	punched := false
	for i := 0; i < s.cfg.TCPRequests; i++ {
		msg, err := readMessage(c, buf)
		if err != nil {
			if errors.Is(err, errFraming) {
				s.stats.received.Add(1)
				s.stats.dropped.Add(1)
			}
			return
		}
		buf = msg
		r, ok := s.serve(out, msg, src, local, true)
		if !ok {
			continue
		}
		if r.ask != 0 {
			r = s.measure(r, msg, src, local, &punched)
		}
		out = r.data
		if _, err := c.Write(r.data); err != nil {
			s.stats.sendErrors.Add(1)
			return
		}
	}
}

// readMessage reads one STUN message (RFC 8489 6.2.2: messages follow
// each other on the stream, framed by the header's length) into buf.
func readMessage(r io.Reader, buf []byte) ([]byte, error) {
	buf = slices.Grow(buf[:0], stun.HeaderSize)[:stun.HeaderSize]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(buf[2:]))
	if !stun.IsMessage(buf) || stun.HeaderSize+n > stun.MaxPaddedMessageSize {
		return nil, errFraming
	}
	buf = slices.Grow(buf, n)[:stun.HeaderSize+n]
	if _, err := io.ReadFull(r, buf[stun.HeaderSize:]); err != nil {
		return nil, err
	}
	return buf, nil
}
