package conntrackmap

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Proto is an IP protocol number as conntrack reports it.
type Proto uint8

// The protocols whose mappings the table models.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// String returns "udp", "tcp" or the protocol number.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// MarshalText writes "udp", "tcp" or the number.
func (p Proto) MarshalText() ([]byte, error) {
	if p == TCP || p == UDP {
		return []byte(p.String()), nil
	}
	return []byte(strconv.Itoa(int(p))), nil
}

// UnmarshalText reads what MarshalText writes.
func (p *Proto) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "udp":
		*p = UDP
	case "tcp":
		*p = TCP
	default:
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return fmt.Errorf("conntrackmap: unknown protocol %q", s)
		}
		*p = Proto(n)
	}
	return nil
}

// Tuple is one direction of a connection, as in conntrack's
// CTA_TUPLE_ORIG and CTA_TUPLE_REPLY.
type Tuple struct {
	Src netip.AddrPort `json:"src"`
	Dst netip.AddrPort `json:"dst"`
}

// Flow is the part of a conntrack entry the table needs.
//
// For a flow that a LAN host opened through source NAT, Orig is
// private -> remote and Reply is remote -> public.
type Flow struct {
	Proto Proto `json:"proto"`
	Orig  Tuple `json:"orig"`
	Reply Tuple `json:"reply"`
	// Replied: conntrack saw a packet in the reply direction
	// (IPS_SEEN_REPLY). A flow whose source was forged never answers, so
	// enforce mode trusts the pins of replied flows more; a hairpinned
	// flow's tells whether its receiver answered.
	Replied bool `json:"replied,omitempty"`
	// Hairpin marks a hairpinned flow and the kind of source its
	// receiver sees; NotHairpin for every other flow.
	Hairpin HairpinSource `json:"hairpin,omitempty"`
}

// Private is the endpoint the LAN host sent from.
func (f Flow) Private() netip.AddrPort { return f.Orig.Src }

// Remote is the endpoint the LAN host sent to.
func (f Flow) Remote() netip.AddrPort { return f.Orig.Dst }

// Public is the endpoint the NAT gave the flow: where replies are addressed.
func (f Flow) Public() netip.AddrPort { return f.Reply.Dst }

// SourceNATed reports whether the NAT rewrote the flow's source.
func (f Flow) SourceNATed() bool { return f.Orig.Src != f.Reply.Dst }

// valid reports whether the flow has the fields the table relies on.
func (f Flow) valid() bool {
	return (f.Proto == UDP || f.Proto == TCP) &&
		f.Orig.Src.IsValid() && f.Orig.Dst.IsValid() && f.Reply.Dst.IsValid() &&
		(f.Hairpin == NotHairpin || f.Reply.Src.IsValid())
}

// sameFamily reports whether all of the flow's endpoints are of one
// address family, as they are under NAT44 and NAT66.
func (f Flow) sameFamily() bool {
	is4 := f.Orig.Src.Addr().Is4()
	return f.Orig.Dst.Addr().Is4() == is4 && f.Reply.Dst.Addr().Is4() == is4 &&
		(f.Hairpin == NotHairpin || f.Reply.Src.Addr().Is4() == is4)
}

// String formats the flow as "private -> remote via public/proto".
func (f Flow) String() string {
	return fmt.Sprintf("%s -> %s via %s/%s", f.Private(), f.Remote(), f.Public(), f.Proto)
}

// EventType says what happened to a flow.
type EventType uint8

// The event types of conntrack's NEW, UPDATE and DESTROY groups.
const (
	EventNew EventType = iota + 1
	EventUpdate
	EventDestroy
)

// String returns "new", "update" or "destroy".
func (t EventType) String() string {
	switch t {
	case EventNew:
		return "new"
	case EventUpdate:
		return "update"
	case EventDestroy:
		return "destroy"
	}
	return fmt.Sprintf("event-%d", uint8(t))
}

// Event is a change to one flow.
type Event struct {
	Type EventType
	Flow Flow
}
