package introducer

import (
	"encoding/binary"

	"github.com/natp2p/natp2p/probe/stun"
)

// maxAttributes bounds the attributes of a request the server reads. A
// Binding request has a handful (ICE checks about eight); more is
// dropped before Parse allocates the attribute list.
const maxAttributes = 32

// precheck is the work done before rate limiting: is b a well-framed
// STUN Binding request (RFC 8489 6, 18.2) with at most maxAttributes
// attributes? It allocates nothing.
func precheck(b []byte) bool {
	if !stun.IsMessage(b) || len(b) > stun.MaxPaddedMessageSize {
		return false
	}
	if binary.BigEndian.Uint16(b) != stun.TypeBindingRequest ||
		int(binary.BigEndian.Uint16(b[2:]))+stun.HeaderSize != len(b) || len(b)%4 != 0 {
		return false
	}
	n := 0
	for off := stun.HeaderSize; off < len(b); n++ {
		if n == maxAttributes || len(b)-off < 4 {
			return false
		}
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		off += 4 + l + (4-l%4)%4
		if off > len(b) {
			return false
		}
	}
	return true
}

// understood are the comprehension-required attributes (RFC 8489 14:
// 0x0000-0x7FFF) the server accepts in a Binding request: RFC 5780's
// request attributes, and RFC 8489's own, which it ignores (it does no
// authentication, so MESSAGE-INTEGRITY and the rest are not checked).
// Anything else, RFC 3489's RESPONSE-ADDRESS included (it would make the
// server send to any address), gets 420.
var understood = map[uint16]bool{
	stun.AttrMappedAddress: true, stun.AttrChangeRequest: true,
	0x0006 /* USERNAME */ : true, 0x0008 /* MESSAGE-INTEGRITY */ : true,
	stun.AttrErrorCode: true, stun.AttrUnknownAttrs: true,
	0x0014 /* REALM */ : true, 0x0015 /* NONCE */ : true,
	0x001C /* MESSAGE-INTEGRITY-SHA256 */ : true, 0x001D /* PASSWORD-ALGORITHM */ : true,
	0x001E /* USERHASH */ : true, stun.AttrXORMappedAddress: true,
	stun.AttrPadding: true, stun.AttrResponsePort: true,
}

// request is what the server reads from a Binding request.
type request struct {
	change      uint32 // CHANGE-REQUEST flags (RFC 5780 7.2)
	hasChange   bool
	port        uint16 // RESPONSE-PORT (RFC 5780 7.5)
	hasPort     bool
	padding     int // PADDING length (RFC 5780 7.6)
	hasPadding  bool
	ask         uint32 // natp2p's AttrNATP2PAsk flags, over TCP only
	hasAsk      bool
	bad         bool // an attribute the server reads is malformed
	unknown     [maxAttributes]uint16
	unknownSize int
}

// readRequest reads m's attributes. A server that cannot change its
// address (degraded) does not understand CHANGE-REQUEST at all (RFC 5780
// 6); over TCP it cannot honour a CHANGE-REQUEST flag or RESPONSE-PORT,
// so these count as not understood too.
func readRequest(m *stun.Message, degraded, tcp bool) request {
	var r request
	for _, a := range m.Attributes {
		r.read(a, degraded, tcp)
	}
	return r
}

func (r *request) read(a stun.Attribute, degraded, tcp bool) {
	switch {
	case a.Type == stun.AttrNATP2PAsk && tcp:
		r.readAsk(a.Value)
	case a.Type >= 0x8000:
		return // comprehension-optional: ignored (RFC 8489 14)
	case !understood[a.Type] || a.Type == stun.AttrChangeRequest && degraded:
		r.addUnknown(a.Type)
	case a.Type == stun.AttrChangeRequest:
		r.readChange(a.Value, tcp)
	case a.Type == stun.AttrResponsePort:
		r.readPort(a.Value, tcp)
	case a.Type == stun.AttrPadding && !r.hasPadding:
		r.padding, r.hasPadding = len(a.Value), true
	}
}

func (r *request) readChange(v []byte, tcp bool) {
	if r.hasChange {
		return // the first one counts (RFC 8489 14)
	}
	flags, err := stun.DecodeChangeRequest(v)
	r.change, r.hasChange, r.bad = flags, true, r.bad || err != nil
	if tcp && flags&(stun.ChangeIP|stun.ChangePort) != 0 {
		r.addUnknown(stun.AttrChangeRequest)
	}
}

func (r *request) readPort(v []byte, tcp bool) {
	if r.hasPort {
		return
	}
	port, err := stun.DecodeResponsePort(v)
	r.port, r.hasPort, r.bad = port, true, r.bad || err != nil || port == 0
	if tcp {
		r.addUnknown(stun.AttrResponsePort)
	}
}

// readAsk reads natp2p's request attribute; the first one counts (RFC
// 8489 14). Being comprehension-optional, a malformed one is ignored, not
// rejected; so are unknown flags.
func (r *request) readAsk(v []byte) {
	if r.hasAsk {
		return
	}
	flags, err := stun.DecodeAsk(v)
	r.hasAsk = true
	if err == nil {
		r.ask = flags & (stun.AskUnsolicited | stun.AskPeer)
	}
}

// addUnknown records t once.
func (r *request) addUnknown(t uint16) {
	for _, u := range r.unknown[:r.unknownSize] {
		if u == t {
			return
		}
	}
	r.unknown[r.unknownSize] = t
	r.unknownSize++
}

// errorCode returns the error response the request deserves, or 0:
//   - 420 when it has comprehension-required attributes the server does
//     not understand (RFC 8489 6.3.1), including CHANGE-REQUEST on a
//     single-IP server (RFC 5780 6 and 6.1);
//   - 400 when an attribute the server reads is malformed, RESPONSE-PORT
//     is 0 (no datagram can go there), or RESPONSE-PORT comes with PADDING
//     (RFC 5780 6.1 and 7.5: that would aim a padded, fragmented response
//     at another port).
func (r *request) errorCode() int {
	switch {
	case r.unknownSize > 0:
		return 420
	case r.bad || r.hasPort && r.hasPadding:
		return 400
	}
	return 0
}
