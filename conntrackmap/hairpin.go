package conntrackmap

import (
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// HairpinSource marks a hairpinned flow: a LAN host sent to a public
// endpoint of this NAT, and the NAT sent it on to a LAN host. The agent's
// filter sets it, as only it knows the router's public addresses and LAN
// networks; it says what kind of source the receiver sees, which is the
// reply tuple's destination.
type HairpinSource uint8

// The hairpin marks.
const (
	// NotHairpin: the flow is no hairpinned flow.
	NotHairpin HairpinSource = iota
	// HairpinPublic: the receiver sees a public address of this NAT as
	// the source. The flow is modelled as a mapping too.
	HairpinPublic
	// HairpinPrivate: the receiver sees a private source: the sender's own
	// endpoint (no source NAT applied) or another non-public address of
	// the router (a masquerade on the LAN).
	HairpinPrivate
)

// SourceSeen classifies what a hairpinned flow's receiver saw as the
// source (RFC 4787 REQ-9a: it must be the sender's public mapping).
type SourceSeen uint8

// The sources a receiver can see.
const (
	// SourceMapping: the sender's public endpoint (its live mapping, or
	// the first one the NAT gave it).
	SourceMapping SourceSeen = iota + 1
	// SourceOtherPublic: a public endpoint, but not the sender's mapping.
	SourceOtherPublic
	// SourcePrivate: a private source.
	SourcePrivate
)

// String returns "sender's mapping", "other public" or "private".
func (s SourceSeen) String() string {
	switch s {
	case SourceMapping:
		return "sender's mapping"
	case SourceOtherPublic:
		return "other public"
	case SourcePrivate:
		return "private"
	}
	return fmt.Sprintf("source-%d", uint8(s))
}

// HairpinFlow is one hairpinned flow as conntrack showed it: Sender sent
// to Public, a public endpoint of this NAT, which the NAT sent on to
// Target; Target saw it come from Source (the reply tuple's destination).
type HairpinFlow struct {
	Proto  Proto
	Sender netip.AddrPort
	Public netip.AddrPort
	Target netip.AddrPort
	Source netip.AddrPort
	Seen   SourceSeen
	// Replied: a packet came back from the target (IPS_SEEN_REPLY).
	Replied bool
	// Live: the flow is still in the kernel's table; else it ended.
	Live bool
	At   time.Time // when the table first saw it
}

// Working reports whether the flow shows hairpinning that works: the
// receiver saw the sender's public endpoint, and answered.
func (h HairpinFlow) Working() bool { return h.Seen == SourceMapping && h.Replied }

// HairpinSummary counts hairpinned flows. Live figures describe the table
// now; Seen figures count since the table was made.
type HairpinSummary struct {
	Flows   int `json:"flows"`   // live hairpinned flows
	Replied int `json:"replied"` // live ones that got a reply
	Private int `json:"private"` // live ones whose receiver sees a private source

	SeenFlows     uint64 `json:"seen_flows"`     // hairpinned flows seen
	SeenWorking   uint64 `json:"seen_working"`   // of those, from the sender's mapping and answered
	SeenPrivate   uint64 `json:"seen_private"`   // of those, whose receiver saw a private source
	SeenUnreplied uint64 `json:"seen_unreplied"` // flows that ended without a reply
}

// hairpinKey is a hairpinned flow's original tuple. Both families use the
// 16-byte form (IPv4 as IPv4-mapped): hairpinned flows are few, and one
// form keeps one copy of the code.
type hairpinKey = flowKey[[16]byte]

// hairpinVal is what the table keeps of a live hairpinned flow.
type hairpinVal struct {
	target, source endpoint[[16]byte]
	since          uint32
	gen            uint8
	seen           SourceSeen
	replied        bool
}

func hairpinKeyOf(f Flow) hairpinKey {
	return hairpinKey{proto: f.Proto, priv: endpointOf[[16]byte](f.Private()), remote: endpointOf[[16]byte](f.Remote())}
}

// addHairpin adds or updates a hairpinned flow: a flow the table holds
// already only takes a reply it did not have and the generation.
func (t *Table) addHairpin(f Flow) {
	k := hairpinKeyOf(f)
	v, ok := t.hairpins[k]
	if ok {
		if f.Replied && !v.replied && v.seen == SourceMapping {
			t.hairpin.SeenWorking++
		}
		v.replied, v.gen = v.replied || f.Replied, t.gen
		t.hairpins[k] = v
		return
	}
	v = hairpinVal{target: endpointOf[[16]byte](f.Reply.Src), source: endpointOf[[16]byte](f.Public()),
		since: t.clock(), gen: t.gen, seen: SourcePrivate, replied: f.Replied}
	if f.Hairpin == HairpinPublic {
		v.seen = SourceMapping
		if first, ok := t.firstPublic(f.Proto, f.Private()); ok && first != f.Public() {
			v.seen = SourceOtherPublic
		}
	}
	t.hairpins[k] = v
	t.hairpin.SeenFlows++
	if v.seen == SourcePrivate {
		t.hairpin.SeenPrivate++
	}
	if v.replied && v.seen == SourceMapping {
		t.hairpin.SeenWorking++
	}
}

// firstPublic is the first public endpoint of a private endpoint's live
// mapping.
func (t *Table) firstPublic(p Proto, private netip.AddrPort) (netip.AddrPort, bool) {
	if private.Addr().Is4() {
		return publicOf(t.v4, p, private)
	}
	return publicOf(t.v6, p, private)
}

// endHairpin removes a hairpinned flow, keeping it as ended evidence.
func (t *Table) endHairpin(f Flow) { t.endHairpinKey(hairpinKeyOf(f)) }

// endHairpinKey removes k's hairpinned flow, if the table holds it, and
// keeps it as ended evidence.
func (t *Table) endHairpinKey(k hairpinKey) {
	v, ok := t.hairpins[k]
	if !ok {
		return
	}
	delete(t.hairpins, k)
	if !v.replied {
		t.hairpin.SeenUnreplied++
	}
	h := v.flow(k, t.at)
	h.Live = false
	t.ended.push(h)
}

// flow writes v, live, as a HairpinFlow.
func (v hairpinVal) flow(k hairpinKey, at func(uint32) time.Time) HairpinFlow {
	unmap := func(e endpoint[[16]byte]) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(e.addr).Unmap(), e.port)
	}
	return HairpinFlow{Proto: k.proto, Sender: unmap(k.priv), Public: unmap(k.remote), Target: unmap(v.target),
		Source: unmap(v.source), Seen: v.seen, Replied: v.replied, Live: true, At: at(v.since)}
}

// sweepHairpins ends the hairpinned flows not seen in the current
// generation.
func (t *Table) sweepHairpins() {
	for k, v := range t.hairpins {
		if v.gen != t.gen {
			t.endHairpinKey(k)
		}
	}
}

// liveHairpins appends the live hairpinned flows to the summary.
func (t *Table) liveHairpins(sum *Summary) {
	for k, v := range t.hairpins {
		h := &sum.Hairpin
		h.Flows++
		if v.replied {
			h.Replied++
		}
		if v.seen == SourcePrivate {
			h.Private++
		}
		sum.Hairpins = append(sum.Hairpins, v.flow(k, t.at))
	}
}

// hairpinEvidence orders the live hairpinned flows newest first, keeps
// the newest n, and appends the ended ones, newest first.
func hairpinEvidence(live []HairpinFlow, n int, ended []HairpinFlow) []HairpinFlow {
	sort.Slice(live, func(i, j int) bool {
		if !live[i].At.Equal(live[j].At) {
			return live[i].At.After(live[j].At)
		}
		if live[i].Proto != live[j].Proto {
			return live[i].Proto < live[j].Proto
		}
		if c := live[i].Sender.Compare(live[j].Sender); c != 0 {
			return c < 0
		}
		return live[i].Public.Compare(live[j].Public) < 0
	})
	if len(live) > n {
		live = live[:n]
	}
	return append(live, ended...)
}

// LiveHairpins returns the live hairpinned flows, newest first, at most
// max. It walks only those flows: the daemon asks it before each report,
// to look up which got a reply since.
func (t *Table) LiveHairpins(max int) []HairpinFlow {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s Summary
	t.liveHairpins(&s)
	return hairpinEvidence(s.Hairpins, max, nil)
}

// MarkReplied records that live hairpinned flows got a reply, as the
// kernel shows them now. Unlike an Update event it never adds a flow: one
// the table no longer holds ended meanwhile, and stays ended.
func (t *Table) MarkReplied(flows []Flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range flows {
		if !f.valid() {
			continue
		}
		k := hairpinKeyOf(f)
		if v, ok := t.hairpins[k]; ok && !v.replied {
			v.replied = true
			t.hairpins[k] = v
			if v.seen == SourceMapping {
				t.hairpin.SeenWorking++
			}
		}
	}
}
