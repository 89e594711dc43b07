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

// hairpinVal is what the table keeps of a live hairpinned flow.
type hairpinVal[A addr] struct {
	target, source endpoint[A]
	since          uint32
	gen            uint8
	seen           SourceSeen
	replied        bool
}

// addHairpin adds or updates a hairpinned flow: a flow the shard holds
// already only takes a reply it did not have and the generation.
func (t *Table) addHairpin(f Flow) {
	var o hairpinOutcome
	if f.Private().Addr().Is4() {
		o = t.v4.addHairpin(f, t.clock(), t.gen)
	} else {
		o = t.v6.addHairpin(f, t.clock(), t.gen)
	}
	h := &t.hairpin
	if o.added {
		h.SeenFlows++
		if o.seen == SourcePrivate {
			h.SeenPrivate++
		}
	}
	if o.working {
		h.SeenWorking++
	}
}

type hairpinOutcome struct {
	added, working bool
	seen           SourceSeen
}

func (s *shard[A]) addHairpin(f Flow, now uint32, gen uint8) hairpinOutcome {
	fk, priv, pub := keysOf[A](f)
	v, ok := s.hairpins[fk]
	if ok {
		newly := f.Replied && !v.replied
		v.replied = v.replied || f.Replied
		v.gen = gen
		s.hairpins[fk] = v
		return hairpinOutcome{working: newly && v.seen == SourceMapping}
	}
	v = hairpinVal[A]{target: endpointOf[A](f.Reply.Src), source: pub.ep, since: now, gen: gen,
		seen: SourcePrivate, replied: f.Replied}
	if f.Hairpin == HairpinPublic {
		v.seen = SourceMapping
		if first, ok := s.mappings.first[priv]; ok && first.v != pub.ep {
			v.seen = SourceOtherPublic
		}
	}
	s.hairpins[fk] = v
	return hairpinOutcome{added: true, working: v.replied && v.seen == SourceMapping, seen: v.seen}
}

// endHairpin removes a hairpinned flow, keeping it as ended evidence.
func (t *Table) endHairpin(f Flow) {
	if f.Private().Addr().Is4() {
		t.endHairpinKey(hairpinOf(t.v4, keyOf[[4]byte](f), t.at))
	} else {
		t.endHairpinKey(hairpinOf(t.v6, keyOf[[16]byte](f), t.at))
	}
}

func keyOf[A addr](f Flow) flowKey[A] {
	fk, _, _ := keysOf[A](f)
	return fk
}

// hairpinOf removes fk's hairpinned flow from s and returns it, ended.
func hairpinOf[A addr](s *shard[A], fk flowKey[A], at func(uint32) time.Time) (HairpinFlow, bool) {
	v, ok := s.hairpins[fk]
	if !ok {
		return HairpinFlow{}, false
	}
	delete(s.hairpins, fk)
	h := v.flow(fk, at)
	h.Live = false
	return h, true
}

// endHairpinKey keeps an ended hairpinned flow as evidence.
func (t *Table) endHairpinKey(h HairpinFlow, ok bool) {
	if !ok {
		return
	}
	if !h.Replied {
		t.hairpin.SeenUnreplied++
	}
	t.ended.push(h)
}

// flow writes v, live, as a HairpinFlow.
func (v hairpinVal[A]) flow(fk flowKey[A], at func(uint32) time.Time) HairpinFlow {
	return HairpinFlow{Proto: fk.proto, Sender: fk.priv.addrPort(), Public: fk.remote.addrPort(),
		Target: v.target.addrPort(), Source: v.source.addrPort(), Seen: v.seen, Replied: v.replied,
		Live: true, At: at(v.since)}
}

// sweepHairpins ends the hairpinned flows not seen in generation gen.
func sweepHairpins[A addr](t *Table, s *shard[A], gen uint8) {
	for fk, v := range s.hairpins {
		if v.gen != gen {
			t.endHairpinKey(hairpinOf(s, fk, t.at))
		}
	}
}

// summarizeHairpins adds s's live hairpinned flows to the summary.
func summarizeHairpins[A addr](sum *Summary, s *shard[A], at func(uint32) time.Time) {
	for fk, v := range s.hairpins {
		h := &sum.Hairpin
		h.Flows++
		if v.replied {
			h.Replied++
		}
		if v.seen == SourcePrivate {
			h.Private++
		}
		sum.Hairpins = append(sum.Hairpins, v.flow(fk, at))
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
	summarizeHairpins(&s, t.v4, t.at)
	summarizeHairpins(&s, t.v6, t.at)
	return hairpinEvidence(s.Hairpins, max, nil)
}

// MarkReplied records that live hairpinned flows got a reply, as the
// kernel shows them now. Unlike an Update event it never adds a flow: one
// the table no longer holds ended meanwhile, and stays ended.
func (t *Table) MarkReplied(flows []Flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range flows {
		if !f.valid() || !f.sameFamily() {
			continue
		}
		var working bool
		if f.Private().Addr().Is4() {
			working = markReplied(t.v4, f)
		} else {
			working = markReplied(t.v6, f)
		}
		if working {
			t.hairpin.SeenWorking++
		}
	}
}

// markReplied marks f's hairpinned flow replied, if s holds it, and
// reports whether that shows it working.
func markReplied[A addr](s *shard[A], f Flow) bool {
	fk := keyOf[A](f)
	v, ok := s.hairpins[fk]
	if !ok || v.replied {
		return false
	}
	v.replied = true
	s.hairpins[fk] = v
	return v.seen == SourceMapping
}
