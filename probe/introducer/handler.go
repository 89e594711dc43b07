package introducer

import (
	"net/netip"

	"github.com/natp2p/natp2p/probe/stun"
)

// outcome is what the handler made of a request.
type outcome uint8

const (
	dropped  outcome = iota // not a well-formed Binding request: nothing is sent
	answered                // Binding success response
	rejected                // Binding error response
)

// reply is the handler's answer: data to send from the local socket
// `from` to `to`.
type reply struct {
	outcome
	data     []byte
	from, to netip.AddrPort
	ask      uint32 // what an answered TCP request asks beyond Binding (AttrNATP2PAsk)
}

// extras are the outcomes of what a TCP request asked (AttrNATP2PAsk),
// which the server measured before answering: each is reported only when
// asked for and known.
type extras struct {
	unsolicited stun.Unsolicited // 0: not measured
	errno       uint16
	peer        netip.AddrPort // the punching peer; invalid: none
}

// handler answers Binding requests. It is a pure function of its input
// (no sockets, no clock), so it is fuzzed directly.
type handler struct {
	plan     plan
	software []byte
}

// handle answers request b from src, received on the local socket
// `local` (one of plan.sockets()), over TCP or UDP. The response is
// appended to buf[:0]. Its size is at most len(b) + h.maxGrowth(tcp).
func (h *handler) handle(buf, b []byte, src, local netip.AddrPort, tcp bool) reply {
	return h.handleWith(buf, b, src, local, tcp, extras{})
}

// handleWith is handle with the outcomes of what the request asked.
func (h *handler) handleWith(buf, b []byte, src, local netip.AddrPort, tcp bool, x extras) reply {
	ip, port, ok := h.plan.index(local)
	if !ok || !precheck(b) {
		return reply{}
	}
	m, err := stun.Parse(b)
	if err != nil {
		return reply{} // e.g. a bad FINGERPRINT: discarded (RFC 8489 6.3)
	}
	r := readRequest(m, h.plan.degraded(), tcp)
	if code := r.errorCode(); code != 0 {
		data := h.errorResponse(buf, m.TransactionID, code, r.unknown[:r.unknownSize])
		return reply{outcome: rejected, data: data, from: local, to: src}
	}
	from := h.plan.addr(ip^flag(r.change, stun.ChangeIP), port^flag(r.change, stun.ChangePort))
	to := src
	if r.hasPort {
		to = netip.AddrPortFrom(src.Addr(), r.port) // RFC 5780 7.5: same IP, that port
	}
	data := h.success(buf, m.TransactionID, src, from, h.other(ip, port), r, x)
	return reply{outcome: answered, data: data, from: from, to: to, ask: r.ask}
}

func flag(flags, f uint32) int {
	if flags&f != 0 {
		return 1
	}
	return 0
}

// other is OTHER-ADDRESS: Ca:Cp, whatever the CHANGE-REQUEST flags (RFC
// 5780 6.1, table 1), or nothing with a single IP address (7.4).
func (h *handler) other(ip, port int) netip.AddrPort {
	if h.plan.degraded() {
		return netip.AddrPort{}
	}
	return h.plan.addr(ip^1, port^1)
}

// success builds a Binding success response (RFC 5780 6.1): both
// XOR-MAPPED-ADDRESS and MAPPED-ADDRESS, RESPONSE-ORIGIN (the address it
// is sent from), OTHER-ADDRESS, PADDING as long as the request's,
// SOFTWARE and FINGERPRINT.
func (h *handler) success(buf []byte, tid [12]byte, src, from, other netip.AddrPort, r request, x extras) []byte {
	w := newBuilder(buf, stun.TypeBindingSuccess, tid)
	w.xorAddress(stun.AttrXORMappedAddress, src, tid)
	w.address(stun.AttrMappedAddress, src)
	w.address(stun.AttrResponseOrigin, from)
	if other.IsValid() {
		w.address(stun.AttrOtherAddress, other)
	}
	if r.ask&stun.AskUnsolicited != 0 && x.unsolicited != 0 {
		copy(w.attr(stun.AttrNATP2PUnsolicited, 4), stun.EncodeUnsolicited(x.unsolicited, x.errno))
	}
	if r.ask&stun.AskPeer != 0 && x.peer.IsValid() {
		w.xorAddress(stun.AttrNATP2PPeer, x.peer, tid)
	}
	if r.hasPadding {
		// Mirrored, but never past the largest datagram.
		room := stun.MaxPaddedMessageSize - len(w.b) - 4 - h.softwareSize() - 8
		w.attr(stun.AttrPadding, min(r.padding, room&^3))
	}
	w.bytes(stun.AttrSoftware, h.software)
	return w.finish()
}

// errorResponse builds a Binding error response (RFC 8489 6.3.1.1), with
// UNKNOWN-ATTRIBUTES for 420 (RFC 8489 14.13).
func (h *handler) errorResponse(buf []byte, tid [12]byte, code int, unknown []uint16) []byte {
	w := newBuilder(buf, stun.TypeBindingError, tid)
	if code == 420 {
		w.errorCode(code, "Unknown Attribute")
		w.unknownAttributes(unknown)
	} else {
		w.errorCode(code, "Bad Request")
	}
	w.bytes(stun.AttrSoftware, h.software)
	return w.finish()
}

// softwareSize is the size of the SOFTWARE attribute.
func (h *handler) softwareSize() int { return 4 + len(h.software) + (4-len(h.software)%4)%4 }

// maxGrowth bounds how much longer than its request a response is: the
// largest response to the smallest request (20 bytes): four IPv6 address
// attributes, SOFTWARE and FINGERPRINT. PADDING is mirrored, so it never
// adds to the difference; an error response is shorter. With the default
// SOFTWARE this is 128 bytes. Over TCP, natp2p's two answers (8 bytes,
// and a fifth IPv6 address) come only to a request with AttrNATP2PAsk,
// itself 8 bytes long: they add 24 bytes (152 with the default SOFTWARE).
func (h *handler) maxGrowth(tcp bool) int {
	n := 4*(4+20) + h.softwareSize() + 8
	if tcp {
		n += 8 + (4 + 20) - 8
	}
	return n
}
