package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/natp2p/natp2p/probe/stun"
)

// reply is a STUN response and where it came from.
type reply struct {
	msg  *stun.Message
	from netip.AddrPort
}

// sock is one UDP socket of a probe. A reader goroutine hands responses to
// the transaction waiting for them and Binding requests (a hairpinned
// probe) to whoever waits for that transaction ID.
type sock struct {
	conn *net.UDPConn

	mu       sync.Mutex
	waiting  map[[12]byte]chan reply
	requests map[[12]byte]chan netip.AddrPort
}

// openSock binds a fresh UDP socket on local (port 0: a random port, RFC
// 5780 4.1) and starts its reader.
func openSock(local netip.Addr) (*sock, error) {
	var laddr *net.UDPAddr
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := net.ListenUDP("udp4", laddr)
	if err != nil {
		return nil, err
	}
	s := &sock{conn: conn, waiting: map[[12]byte]chan reply{}, requests: map[[12]byte]chan netip.AddrPort{}}
	go s.read()
	return s, nil
}

func (s *sock) local() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (s *sock) close() { s.conn.Close() }

// read dispatches datagrams until the socket is closed.
func (s *sock) read() {
	buf := make([]byte, stun.MaxMessageSize)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg, err := stun.Parse(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue // not ours: ignore
		}
		s.dispatch(msg, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

func (s *sock) dispatch(msg *stun.Message, from netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg.Type == stun.TypeBindingRequest {
		if ch, ok := s.requests[msg.TransactionID]; ok {
			select {
			case ch <- from:
			default:
			}
		}
		return
	}
	if ch, ok := s.waiting[msg.TransactionID]; ok {
		select {
		case ch <- reply{msg, from}:
		default:
		}
	}
}

// expectRequest registers interest in a Binding request with tid.
func (s *sock) expectRequest(tid [12]byte) chan netip.AddrPort {
	ch := make(chan netip.AddrPort, 1)
	s.mu.Lock()
	s.requests[tid] = ch
	s.mu.Unlock()
	return ch
}

// errNoAnswer: the transaction timed out.
var errNoAnswer = errors.New("no answer")

// exchange sends req to to and waits for its response (see retransmit).
func (s *sock) exchange(ctx context.Context, req *stun.Message, to netip.AddrPort, rto, timeout time.Duration) (reply, error) {
	ch, done := s.await(req.TransactionID)
	defer done()
	b := req.Marshal(true)
	send := func() error { _, err := s.conn.WriteToUDPAddrPort(b, to); return err }
	return retransmit(ctx, send, ch, rto, timeout)
}

// await registers interest in the response to transaction tid; done
// forgets it.
func (s *sock) await(tid [12]byte) (ch chan reply, done func()) {
	ch = make(chan reply, 1)
	s.mu.Lock()
	s.waiting[tid] = ch
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.waiting, tid)
		s.mu.Unlock()
	}
}

// retransmit calls send at once and again after rto, 2*rto, 4*rto, ...
// (RFC 8489 6.2.1) until got delivers, the timeout passes (errNoAnswer),
// ctx ends or send fails.
func retransmit[T any](ctx context.Context, send func() error, got <-chan T, rto, timeout time.Duration) (T, error) {
	var zero T
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for wait := rto; ; wait *= 2 {
		if err := send(); err != nil {
			return zero, err
		}
		retry := time.NewTimer(wait)
		select {
		case v := <-got:
			retry.Stop()
			return v, nil
		case <-retry.C:
			continue
		case <-deadline.C:
			retry.Stop()
			return zero, errNoAnswer
		case <-ctx.Done():
			retry.Stop()
			return zero, ctx.Err()
		}
	}
}

// bindingRequest is a Binding request, with CHANGE-REQUEST if change != 0.
func bindingRequest(change uint32) *stun.Message {
	m := &stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID()}
	if change != 0 {
		m.Add(stun.AttrChangeRequest, stun.EncodeChangeRequest(change))
	}
	return m
}
