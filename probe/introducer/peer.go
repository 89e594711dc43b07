package introducer

import (
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/probe/stun"
)

// Bounds of natp2p's TCP measurements (AttrNATP2PAsk).
const (
	// unsolicitedWait is how long the introducer waits for an answer to
	// its unsolicited SYN: a RST or an ICMP error from the client's NAT
	// comes within one round trip.
	unsolicitedWait = 500 * time.Millisecond
	// peerLife is how long the punching peer waits for the client's SYN,
	// shorter than the kernel's first SYN retransmission (1 s): the peer
	// sends one SYN only.
	peerLife = 900 * time.Millisecond
)

// measure does what an answered TCP request asked (reply.ask) and
// answers it again with the outcomes. Both target the public endpoint of
// the connection that asked (src), and nothing else; each at most once
// per request, and the punching peer once per connection (punched). A
// single-IP server offers neither: its answer says nothing of them.
func (s *Server) measure(r reply, msg []byte, src, local netip.AddrPort, punched *bool) reply {
	alt := s.h.plan.ips[1]
	if !alt.IsValid() {
		return r
	}
	var x extras
	if r.ask&stun.AskUnsolicited != 0 {
		var err error
		if x.unsolicited, x.errno, err = unsolicitedSYN(alt, src); err != nil {
			s.log.Debug("unsolicited SYN not sent", "to", src, "err", err)
		}
	}
	if r.ask&stun.AskPeer != 0 && !*punched {
		*punched = true
		peer, err := startPeer(alt, src, msg)
		if err != nil {
			s.log.Debug("punching peer", "to", src, "err", err)
		}
		x.peer = peer
	}
	if x == (extras{}) {
		return r
	}
	return s.h.handleWith(r.data[:0], msg, src, local, true, x)
}

// unsolicitedSYN sends one SYN from the alternate address to to and says
// what came back within unsolicitedWait. An error on this side is not
// reported (0), and returned for the log.
func unsolicitedSYN(from netip.Addr, to netip.AddrPort) (stun.Unsolicited, uint16, error) {
	fd, _, err := synFrom(from, to)
	if a := (answeredAtOnce{}); errors.As(err, &a) {
		u, n := classifySYN(a.err)
		return u, n, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fd) // a socket closed in SYN-SENT sends nothing
	err = awaitConnect(fd, unsolicitedWait)
	u, n := classifySYN(err)
	if u == 0 {
		return 0, 0, err
	}
	return u, n, nil
}

// classifySYN names what came back to a SYN.
func classifySYN(err error) (stun.Unsolicited, uint16) {
	var errno unix.Errno
	switch {
	case err == nil:
		return stun.UnsolicitedSYNACK, 0
	case errors.Is(err, errSYNTimeout):
		return stun.UnsolicitedNone, 0
	case !errors.As(err, &errno):
		return 0, 0
	case errno == unix.ECONNREFUSED:
		return stun.UnsolicitedReset, uint16(errno)
	case errno == unix.EHOSTUNREACH, errno == unix.ENETUNREACH, errno == unix.EACCES, errno == unix.EPERM,
		errno == unix.EHOSTDOWN, errno == unix.ENETDOWN, errno == unix.ENOPROTOOPT, errno == unix.EPROTO:
		return stun.UnsolicitedICMP, uint16(errno)
	}
	return 0, 0
}

// startPeer plays a peer behind an endpoint-independent NAT that learned
// the client's public endpoint to from the primary address: it connects
// from a fresh port of the alternate address to to at once (one SYN,
// which the client's NAT drops or refuses) and waits peerLife for the
// client's own SYN to the returned address (TCP simultaneous open,
// draft-ietf-behave-p2p-state section 2.5, RFC 5382 REQ-4). If the
// session comes up, the peer sends a Binding success response to the
// request req, with what it saw of the client, and closes.
func startPeer(from netip.Addr, to netip.AddrPort, req []byte) (netip.AddrPort, error) {
	m, err := stun.Parse(req)
	if err != nil {
		return netip.AddrPort{}, err
	}
	fd, local, err := synFrom(from, to)
	if a := (answeredAtOnce{}); errors.As(err, &a) {
		// Refused: the peer gives up, as a real one's stack does, and the
		// client's SYN finds no one there.
		return a.local, nil
	}
	if err != nil {
		return netip.AddrPort{}, err
	}
	go func() {
		defer unix.Close(fd)
		if awaitConnect(fd, peerLife) != nil {
			return
		}
		w := newBuilder(make([]byte, 0, 64), stun.TypeBindingSuccess, m.TransactionID)
		w.xorAddress(stun.AttrXORMappedAddress, to, m.TransactionID)
		unix.Write(fd, w.finish()) // a few bytes into an empty send buffer
	}()
	return local, nil
}
