package introducer

import (
	"net/netip"
	"runtime"
	"time"
)

// maxDatagram is the receive buffer: any UDP payload fits.
const maxDatagram = 1 << 16

// yieldEvery is how often (in datagrams) a UDP reader passes through the
// scheduler. A reader that never does looks stuck to the runtime's
// monitor, which then takes its processor away in the middle of a
// recvfrom every 10 ms and polls every 20 µs for a while after: more
// context switches than the datagrams themselves cause.
const yieldEvery = 256

// serveUDP reads requests on u until the sockets stop. It allocates
// nothing per datagram beyond stun.Parse's message: the request and
// response buffers, and the peer addresses, are reused.
func (s *Server) serveUDP(socks *sockets, u *udpSocket) {
	buf := make([]byte, maxDatagram)
	out := make([]byte, 0, maxDatagram+256)
	var p peer
	for i := 0; !socks.stopping.Load(); i++ {
		if i%yieldEvery == 0 {
			runtime.Gosched()
		}
		n, src, err := u.recv(buf, &p)
		if err != nil {
			s.log.Debug("udp read", "addr", u.addr, "err", err)
			time.Sleep(10 * time.Millisecond) // never spin on a persistent error
			continue
		}
		if !src.IsValid() {
			continue // woken by stop (or an empty read): check stopping
		}
		if r, ok := s.serve(out, buf[:n], src, u.addr, false); ok {
			s.sendUDP(socks, r, &p)
		}
	}
}

// serve counts and rate-limits one request and handles it. ok is false
// when nothing is to be sent. A UDP request takes a reply from the global
// budget after its source's bucket (a source over its own rate spends
// nothing of it, so one address cannot drain it) and before it is handled
// (a request over it costs no more than the checks, and allocates
// nothing).
func (s *Server) serve(out, b []byte, src, local netip.AddrPort, tcp bool) (reply, bool) {
	s.stats.received.Add(1)
	if !precheck(b) {
		s.stats.dropped.Add(1)
		return reply{}, false
	}
	now := s.now()
	if !s.limit.allow(src.Addr(), now) {
		s.stats.rateLimited.Add(1)
		return reply{}, false
	}
	if !tcp && !s.replies.allow(now) {
		s.stats.globalLimited.Add(1)
		return reply{}, false
	}
	r := s.h.handle(out, b, src, local, tcp)
	s.stats.count(r.outcome)
	return r, r.outcome != dropped
}

// sendUDP sends r from its socket; p is the request's source.
func (s *Server) sendUDP(socks *sockets, r reply, p *peer) {
	u := socks.udpFor(r.from)
	if u == nil {
		s.stats.sendErrors.Add(1) // not reachable: handle picks served addresses
		return
	}
	if err := u.send(r.data, r.to, p); err != nil {
		s.stats.sendErrors.Add(1)
		s.log.Debug("udp send", "from", r.from, "to", r.to, "err", err)
	}
}
