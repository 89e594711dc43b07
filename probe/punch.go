package probe

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/probe/stun"
)

// Unsolicited is what a NAT does with an unsolicited inbound SYN to a
// live TCP mapping (RFC 5382 REQ-4, draft-ietf-behave-p2p-state 2.5).
type Unsolicited string

// The answers to an unsolicited SYN, as the introducer saw them.
const (
	UnsolicitedDropped  Unsolicited = "dropped"  // silently: TCP hole punching can work
	UnsolicitedReset    Unsolicited = "reset"    // a RST (or ICMP port unreachable)
	UnsolicitedICMP     Unsolicited = "icmp"     // an ICMP error
	UnsolicitedAccepted Unsolicited = "accepted" // a SYN-ACK: something took the connection
	UnsolicitedUnknown  Unsolicited = "unknown"  // not measured (an introducer without it, no answer)
)

var unsolicitedNames = map[stun.Unsolicited]Unsolicited{
	stun.UnsolicitedNone: UnsolicitedDropped, stun.UnsolicitedReset: UnsolicitedReset,
	stun.UnsolicitedICMP: UnsolicitedICMP, stun.UnsolicitedSYNACK: UnsolicitedAccepted,
}

// unsolicited asks the introducer, over a TCP connection of its own, to
// send one SYN from its alternate address to that connection's public
// endpoint, and reads what came back (stun.AttrNATP2PUnsolicited). An
// introducer without natp2p's attributes (coturn, stund) leaves it
// unknown.
func (c *Client) unsolicited(ctx context.Context, r *Report) []Test {
	req := bindingRequest(0)
	req.Add(stun.AttrNATP2PAsk, stun.EncodeAsk(stun.AskUnsolicited))
	t, msg, conn := c.tcpRequest(ctx, "tcp unsolicited", netip.AddrPortFrom(c.cfg.Local, 0), r.Introducer, req)
	if conn != nil {
		conn.Close()
	}
	r.TCPUnsolicited = UnsolicitedUnknown
	if msg == nil {
		return []Test{t}
	}
	v, ok := msg.Get(stun.AttrNATP2PUnsolicited)
	if !ok {
		t.Note = "the introducer does not send unsolicited SYNs"
		return []Test{t}
	}
	u, errno, err := stun.DecodeUnsolicited(v)
	if err != nil {
		t.Error = "unsolicited SYN: " + err.Error()
		return []Test{t}
	}
	r.TCPUnsolicited = unsolicitedNames[u]
	t.Note = fmt.Sprintf("SYN from %s to %s: %s", r.Other.Addr(), t.Mapped, unsolicitedNote(u, errno))
	return []Test{t}
}

// unsolicitedNote says what came back, with the introducer's errno.
func unsolicitedNote(u stun.Unsolicited, errno uint16) string {
	what := map[stun.Unsolicited]string{stun.UnsolicitedNone: "nothing came back (dropped)",
		stun.UnsolicitedReset: "answered by a RST or an ICMP port unreachable", stun.UnsolicitedICMP: "answered by an ICMP error",
		stun.UnsolicitedSYNACK: "answered by a SYN-ACK"}[u]
	if errno != 0 {
		what += fmt.Sprintf(" (%s)", syscall.Errno(errno).Error())
	}
	return what
}

// punchUDP tries UDP hole punching with the introducer's alternate
// address and port as the peer, NAT Check style: a fresh socket learns
// its public endpoint from the primary address (as a rendezvous server
// tells a peer), then it and the peer exchange datagrams. A peer behind
// an endpoint-independent NAT that filters (it sent only to the endpoint
// it learned) gets the datagrams only from that endpoint; its answer
// comes back through this NAT's hole. P2PUDP is true when the peer
// answered and saw the endpoint the primary saw.
func (c *Client) punchUDP(ctx context.Context, r *Report) []Test {
	s, err := c.openSock(c.cfg.Local)
	if err != nil {
		return []Test{{Name: "p2p udp", Proto: "udp", Error: err.Error()}}
	}
	defer s.close()
	i := c.test(ctx, s, "p2p udp rendezvous", r.Introducer, 0)
	if !i.Answered {
		return []Test{i.Test}
	}
	p := c.test(ctx, s, "p2p udp peer", r.Other, 0)
	r.P2PUDP = ptr(p.Answered && p.Mapped == i.Mapped)
	return []Test{i.Test, p.Test}
}

// punchTCP tries TCP hole punching (simultaneous open) with a peer that
// the introducer plays on its alternate address: over a connection to
// the primary, the client asks for the peer (stun.AskPeer); the peer sends
// its SYN to the connection's public endpoint at once and the client
// connects to the peer from the same local port. P2PTCP is true when the
// session came up and the peer saw the endpoint the primary saw.
func (c *Client) punchTCP(ctx context.Context, r *Report) []Test {
	req := bindingRequest(0)
	req.Add(stun.AttrNATP2PAsk, stun.EncodeAsk(stun.AskPeer))
	t, msg, conn := c.tcpRequest(ctx, "p2p tcp rendezvous", netip.AddrPortFrom(c.cfg.Local, 0), r.Introducer, req)
	if conn == nil || msg == nil {
		return []Test{t}
	}
	defer conn.Close() // the mapping stays live during the punch
	v, ok := msg.Get(stun.AttrNATP2PPeer)
	if !ok {
		t.Note = "the introducer plays no punching peer"
		return []Test{t}
	}
	peer, err := stun.DecodeXORAddress(v, msg.TransactionID)
	if err != nil {
		t.Error = "punching peer: " + err.Error()
		return []Test{t}
	}
	p := c.tcpPunch(ctx, t.Local, peer, msg.TransactionID)
	r.P2PTCP = ptr(p.Answered && p.Mapped == t.Mapped)
	return []Test{t, p}
}

// tcpPunch connects from local to the peer and reads the peer's Binding
// success response (transaction tid) on the new session.
func (c *Client) tcpPunch(ctx context.Context, local, peer netip.AddrPort, tid [12]byte) Test {
	t := Test{Name: "p2p tcp peer", Proto: "tcp", Local: local, To: peer}
	deadline := time.Now().Add(c.cfg.Timeout)
	conn, err := c.dialIn(ctx, local, peer, deadline, true)
	if err != nil {
		t.Error = err.Error()
		return t
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	msg, err := tcpRead(conn, tid)
	if err != nil {
		t.Error = "session came up, but: " + err.Error()
		return t
	}
	res := result{Test: t}
	res.fill(msg, peer)
	return res.Test
}
