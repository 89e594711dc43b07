package conntrackmap

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var ap = netip.MustParseAddrPort

// equateNet compares netip values by ==.
var equateNet = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})

// nat builds a source-NATed flow private -> remote via public.
func nat(p Proto, private, remote, public string) Flow {
	return Flow{Proto: p,
		Orig:  Tuple{Src: ap(private), Dst: ap(remote)},
		Reply: Tuple{Src: ap(remote), Dst: ap(public)}}
}

func newEvents(flows ...Flow) []Event {
	evs := make([]Event, len(flows))
	for i, f := range flows {
		evs[i] = Event{Type: EventNew, Flow: f}
	}
	return evs
}

// fixedClock returns a clock that advances one second per call.
func fixedClock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestTableSummary(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   func(s *Summary)
	}{
		{
			name: "endpoint-independent mapping",
			events: newEvents(
				nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
				nat(UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:4000")),
			want: func(s *Summary) {
				s.UDP = ProtoSummary{Flows: 2, Mappings: 1, Preserved: 1, SeenReused: 1}
				s.Hosts, s.PublicAddrs = 1, 1
			},
		},
		{
			name: "address-and-port-dependent mapping",
			events: newEvents(
				nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
				nat(UDP, "198.51.100.10:4000", "203.0.113.10:3479", "203.0.113.1:29352")),
			want: func(s *Summary) {
				s.UDP = ProtoSummary{Flows: 2, Mappings: 1, Preserved: 1, Inconsistent: 1,
					SeenInconsistent: 1, SeenPortDependent: 1, SeenPreservationBroke: 1}
				s.Hosts, s.PublicAddrs = 1, 1
			},
		},
		{
			name: "address-dependent tcp mapping",
			events: newEvents(
				nat(TCP, "198.51.100.10:4000", "203.0.113.10:443", "203.0.113.1:50000"),
				nat(TCP, "198.51.100.10:4000", "203.0.113.11:443", "203.0.113.1:50001")),
			want: func(s *Summary) {
				s.TCP = ProtoSummary{Flows: 2, Mappings: 1, Inconsistent: 1, SeenInconsistent: 1}
				s.Hosts, s.PublicAddrs = 1, 1
			},
		},
		{
			name: "port overloading",
			events: newEvents(
				nat(UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:5000"),
				nat(UDP, "198.51.100.11:5000", "203.0.113.11:3478", "203.0.113.1:5000")),
			want: func(s *Summary) {
				s.UDP = ProtoSummary{Flows: 2, Mappings: 2, Preserved: 2, Overloaded: 1, SeenOverloaded: 1}
				s.Hosts, s.PublicAddrs = 2, 1
			},
		},
		{
			name: "unpaired pool",
			events: newEvents(
				nat(UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:5000"),
				nat(UDP, "198.51.100.10:5001", "203.0.113.11:3478", "203.0.113.2:5001")),
			want: func(s *Summary) {
				s.UDP = ProtoSummary{Flows: 2, Mappings: 2, Preserved: 2}
				s.Hosts, s.PublicAddrs, s.Unpaired, s.SeenUnpaired = 1, 2, 1, 1
			},
		},
		{
			name: "destroy ends the violation but keeps the count",
			events: append(newEvents(
				nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
				nat(UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:6000")),
				Event{Type: EventDestroy, Flow: nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000")}),
			want: func(s *Summary) {
				s.UDP = ProtoSummary{Flows: 1, Mappings: 1, SeenInconsistent: 1, SeenPreservationBroke: 1}
				s.Hosts, s.PublicAddrs = 1, 1
			},
		},
		{
			name: "updates and repeated news are idempotent",
			events: []Event{
				{Type: EventNew, Flow: nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000")},
				{Type: EventUpdate, Flow: nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000")},
				{Type: EventNew, Flow: nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000")},
			},
			want: func(s *Summary) {
				s.UDP = ProtoSummary{Flows: 1, Mappings: 1, Preserved: 1}
				s.Hosts, s.PublicAddrs = 1, 1
			},
		},
		{
			name: "not NATed, other protocols and unknown destroys are ignored",
			events: []Event{
				{Type: EventNew, Flow: nat(UDP, "203.0.113.1:53", "203.0.113.10:53", "203.0.113.1:53")},
				{Type: EventNew, Flow: nat(Proto(1), "198.51.100.10:0", "203.0.113.10:0", "203.0.113.1:0")},
				{Type: EventDestroy, Flow: nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000")},
			},
			want: func(s *Summary) { s.Ignored = 2 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := New(Config{Now: fixedClock()})
			tab.ApplyAll(tt.events)
			got := tab.Summary()
			want := Summary{Since: got.Since}
			tt.want(&want)
			got.Violations = nil
			if diff := cmp.Diff(want, got, equateNet); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestViolationEvidence(t *testing.T) {
	tab := New(Config{Now: fixedClock()})
	tab.ApplyAll(newEvents(
		nat(UDP, "198.51.100.10:1234", "203.0.113.10:3478", "203.0.113.1:29352"),
		nat(UDP, "198.51.100.10:1234", "203.0.113.11:3478", "203.0.113.1:1234"),
		nat(UDP, "198.51.100.11:1234", "203.0.113.10:3479", "203.0.113.1:1234")))
	got := tab.Summary().Violations
	if len(got) != 2 {
		t.Fatalf("got %d violations, want 2: %+v", len(got), got)
	}
	want := []Violation{
		{Kind: KindOverloading, Proto: UDP, At: got[0].At,
			A: Use{Private: ap("198.51.100.10:1234"), Public: ap("203.0.113.1:1234"), Remote: ap("203.0.113.11:3478")},
			B: Use{Private: ap("198.51.100.11:1234"), Public: ap("203.0.113.1:1234"), Remote: ap("203.0.113.10:3479")}},
		{Kind: KindMapping, Proto: UDP, At: got[1].At,
			A: Use{Private: ap("198.51.100.10:1234"), Public: ap("203.0.113.1:29352"), Remote: ap("203.0.113.10:3478")},
			B: Use{Private: ap("198.51.100.10:1234"), Public: ap("203.0.113.1:1234"), Remote: ap("203.0.113.11:3478")}},
	}
	if diff := cmp.Diff(want, got, equateNet); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	if !got[1].At.Before(got[0].At) {
		t.Errorf("violations not newest first: %v then %v", got[0].At, got[1].At)
	}
}

func TestEvidenceIsBounded(t *testing.T) {
	tab := New(Config{Evidence: 3})
	for port := uint16(1); port <= 100; port++ {
		pub := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), 20000+port)
		remote := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.10"), port)
		tab.Apply(Event{Type: EventNew, Flow: Flow{Proto: UDP,
			Orig: Tuple{Src: ap("198.51.100.10:4000"), Dst: remote}, Reply: Tuple{Src: remote, Dst: pub}}})
	}
	s := tab.Summary()
	if len(s.Violations) != 3 {
		t.Errorf("kept %d violations, want 3", len(s.Violations))
	}
	if s.UDP.SeenInconsistent != 99 || s.UDP.SeenPortDependent != 99 {
		t.Errorf("seen %d inconsistent (%d port-dependent), want 99 (99)", s.UDP.SeenInconsistent, s.UDP.SeenPortDependent)
	}
	if got := s.Violations[0].B.Remote.Port(); got != 100 {
		t.Errorf("newest evidence is to port %d, want 100", got)
	}
}

func TestReplaceEqualsDump(t *testing.T) {
	tab := New(Config{})
	tab.ApplyAll(newEvents(
		nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
		nat(TCP, "198.51.100.11:4000", "203.0.113.10:443", "203.0.113.1:4000")))
	dump := []Flow{
		nat(UDP, "198.51.100.12:7000", "203.0.113.11:3478", "203.0.113.1:7000"),
		nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
	}
	tab.Replace(dump)
	want := []Flow{dump[1], dump[0]}
	if diff := cmp.Diff(want, tab.Flows(), equateNet); diff != "" {
		t.Errorf("flows after Replace (-want +got):\n%s", diff)
	}
	if s := tab.Summary(); s.TCP.Mappings != 0 || s.UDP.Mappings != 2 || s.Hosts != 2 {
		t.Errorf("after Replace: %d udp, %d tcp mappings, %d hosts; want 2, 0, 2", s.UDP.Mappings, s.TCP.Mappings, s.Hosts)
	}
}

func TestMappings(t *testing.T) {
	tab := New(Config{Now: fixedClock()})
	tab.ApplyAll(newEvents(
		nat(UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:4000"),
		nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
		nat(TCP, "198.51.100.10:4000", "203.0.113.10:443", "203.0.113.1:61000"),
		nat(UDP, "[2001:db8::10]:4000", "[2001:db8:1::10]:3478", "[2001:db8:2::1]:4000")))
	got := tab.Mappings()
	want := []Mapping{
		{Proto: UDP, Private: ap("198.51.100.10:4000"), Public: []netip.AddrPort{ap("203.0.113.1:4000")},
			Remotes: []netip.AddrPort{ap("203.0.113.10:3478"), ap("203.0.113.11:3478")}, Preserved: true},
		{Proto: UDP, Private: ap("[2001:db8::10]:4000"), Public: []netip.AddrPort{ap("[2001:db8:2::1]:4000")},
			Remotes: []netip.AddrPort{ap("[2001:db8:1::10]:3478")}, Preserved: true},
		{Proto: TCP, Private: ap("198.51.100.10:4000"), Public: []netip.AddrPort{ap("203.0.113.1:61000")},
			Remotes: []netip.AddrPort{ap("203.0.113.10:443")}},
	}
	ignoreTimes := cmp.FilterPath(func(p cmp.Path) bool {
		n := p.Last().String()
		return n == ".FirstSeen" || n == ".LastSeen"
	}, cmp.Ignore())
	if diff := cmp.Diff(want, got, ignoreTimes, equateNet); diff != "" {
		t.Errorf("mappings (-want +got):\n%s", diff)
	}
	if !got[0].LastSeen.After(got[0].FirstSeen) {
		t.Errorf("first mapping: last seen %v not after first seen %v", got[0].LastSeen, got[0].FirstSeen)
	}
}

func TestPromotionAfterFirstPublicEnds(t *testing.T) {
	tab := New(Config{})
	a := nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000")
	b := nat(UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:5000")
	c := nat(UDP, "198.51.100.10:4000", "203.0.113.11:3479", "203.0.113.1:5000")
	tab.ApplyAll(newEvents(a, b))
	tab.Apply(Event{Type: EventDestroy, Flow: a})
	tab.Apply(Event{Type: EventNew, Flow: c}) // joins the promoted public endpoint
	s := tab.Summary()
	if s.UDP.Inconsistent != 0 || s.UDP.SeenInconsistent != 1 || s.UDP.SeenReused != 1 {
		t.Errorf("got inconsistent=%d seen=%d reused=%d, want 0, 1, 1", s.UDP.Inconsistent, s.UDP.SeenInconsistent, s.UDP.SeenReused)
	}
	if m := tab.Mappings(); len(m) != 1 || m[0].Public[0] != ap("203.0.113.1:5000") {
		t.Errorf("mappings = %+v, want one on 203.0.113.1:5000", m)
	}
}

func TestResyncDoesNotCountTwice(t *testing.T) {
	tab := New(Config{Now: fixedClock()})
	live := []Flow{
		nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
		nat(UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:5000"),
	}
	tab.ApplyAll(newEvents(live...))
	missed := nat(UDP, "198.51.100.11:4000", "203.0.113.10:3478", "203.0.113.1:4000") // its NEW event was lost
	tab.Replace(append(live, missed))
	tab.Replace(append(live, missed))
	s := tab.Summary()
	if s.UDP.SeenInconsistent != 1 || s.UDP.SeenOverloaded != 1 || len(s.Violations) != 2 {
		t.Errorf("after two resyncs: %d inconsistent, %d overloaded seen, %d evidence; want 1, 1, 2 (the missed flow counts once)",
			s.UDP.SeenInconsistent, s.UDP.SeenOverloaded, len(s.Violations))
	}
}

func TestPortDependenceFoundBeyondTheFirstPublic(t *testing.T) {
	tab := New(Config{})
	tab.ApplyAll(newEvents(
		nat(UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:1000"),
		nat(UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:1001"),
		nat(UDP, "198.51.100.10:4000", "203.0.113.11:3479", "203.0.113.1:1002")))
	s := tab.Summary()
	if s.UDP.SeenPortDependent != 1 {
		t.Errorf("SeenPortDependent = %d, want 1: .11:3478 and .11:3479 got different ports", s.UDP.SeenPortDependent)
	}
	v := s.Of(KindMapping, UDP)[0]
	if v.A.Remote != ap("203.0.113.11:3478") || v.A.Public != ap("203.0.113.1:1001") {
		t.Errorf("evidence pairs the new session with %v via %v, want 203.0.113.11:3478 via 203.0.113.1:1001", v.A.Remote, v.A.Public)
	}
}

// hairpin builds a hairpinned flow: sender -> public, sent on to target,
// which sees source.
func hairpin(p Proto, sender, public, target, source string, replied bool) Flow {
	f := Flow{Proto: p, Orig: Tuple{Src: ap(sender), Dst: ap(public)}, Reply: Tuple{Src: ap(target), Dst: ap(source)},
		Replied: replied, Hairpin: HairpinPublic}
	if source == sender {
		f.Hairpin = HairpinPrivate
	}
	return f
}

func TestHairpins(t *testing.T) {
	const a, b, pubA, pubB = "198.51.100.10:5000", "198.51.100.11:6000", "203.0.113.1:7482", "203.0.113.1:61854"
	toWAN := nat(UDP, a, "203.0.113.10:4000", pubA)
	tests := []struct {
		name   string
		events []Event
		want   HairpinSummary
		flows  []HairpinFlow // Summary.Hairpins without At
	}{
		{"translated to the sender's mapping, then replied",
			append(newEvents(toWAN, hairpin(UDP, a, pubB, b, pubA, false)),
				Event{Type: EventUpdate, Flow: hairpin(UDP, a, pubB, b, pubA, true)}),
			HairpinSummary{Flows: 1, Replied: 1, SeenFlows: 1, SeenWorking: 1},
			[]HairpinFlow{{Proto: UDP, Sender: ap(a), Public: ap(pubB), Target: ap(b), Source: ap(pubA),
				Seen: SourceMapping, Replied: true, Live: true}}},
		{"the private source (no source NAT), never replied, ended",
			append(newEvents(hairpin(UDP, a, pubB, b, a, false)),
				Event{Type: EventDestroy, Flow: hairpin(UDP, a, pubB, b, a, false)}),
			HairpinSummary{SeenFlows: 1, SeenPrivate: 1, SeenUnreplied: 1},
			[]HairpinFlow{{Proto: UDP, Sender: ap(a), Public: ap(pubB), Target: ap(b), Source: ap(a), Seen: SourcePrivate}}},
		{"another public endpoint than the sender's mapping",
			newEvents(toWAN, hairpin(UDP, a, pubB, b, "203.0.113.1:9999", true)),
			HairpinSummary{Flows: 1, Replied: 1, SeenFlows: 1},
			[]HairpinFlow{{Proto: UDP, Sender: ap(a), Public: ap(pubB), Target: ap(b), Source: ap("203.0.113.1:9999"),
				Seen: SourceOtherPublic, Replied: true, Live: true}}},
		{"a reply counts once however often it is told",
			newEvents(hairpin(TCP, a, pubB, b, pubA, true), hairpin(TCP, a, pubB, b, pubA, true)),
			HairpinSummary{Flows: 1, Replied: 1, SeenFlows: 1, SeenWorking: 1},
			[]HairpinFlow{{Proto: TCP, Sender: ap(a), Public: ap(pubB), Target: ap(b), Source: ap(pubA),
				Seen: SourceMapping, Replied: true, Live: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := New(Config{Now: fixedClock()})
			tab.ApplyAll(tt.events)
			s := tab.Summary()
			if diff := cmp.Diff(tt.want, s.Hairpin); diff != "" {
				t.Errorf("hairpin summary (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.flows, s.Hairpins, equateNet, cmpopts.IgnoreFields(HairpinFlow{}, "At")); diff != "" {
				t.Errorf("hairpinned flows (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHairpinResync: a resync whose dump no longer shows a hairpinned
// flow ends it; one that shows its reply adds the reply.
func TestHairpinResync(t *testing.T) {
	tab := New(Config{Now: fixedClock()})
	gone := hairpin(UDP, "198.51.100.10:5000", "203.0.113.1:61854", "198.51.100.11:6000", "203.0.113.1:7482", false)
	stays := hairpin(UDP, "198.51.100.11:6000", "203.0.113.1:7482", "198.51.100.10:5000", "203.0.113.1:61854", false)
	tab.ApplyAll(newEvents(gone, stays))
	stays.Replied = true
	tab.Replace([]Flow{stays})
	want := HairpinSummary{Flows: 1, Replied: 1, SeenFlows: 2, SeenWorking: 1, SeenUnreplied: 1}
	if diff := cmp.Diff(want, tab.Summary().Hairpin); diff != "" {
		t.Errorf("after the resync (-want +got):\n%s", diff)
	}
}

// TestMarkReplied: a reply marks a live hairpinned flow once, and never
// brings back one that ended.
func TestMarkReplied(t *testing.T) {
	tab := New(Config{Now: fixedClock()})
	f := hairpin(UDP, "198.51.100.10:5000", "203.0.113.1:61854", "198.51.100.11:6000", "203.0.113.1:7482", false)
	ended := hairpin(UDP, "198.51.100.12:5000", "203.0.113.1:61854", "198.51.100.11:6000", "203.0.113.1:7483", false)
	tab.ApplyAll(append(newEvents(f, ended), Event{Type: EventDestroy, Flow: ended}))
	f.Replied, ended.Replied = true, true
	tab.MarkReplied([]Flow{f, ended, f})
	want := HairpinSummary{Flows: 1, Replied: 1, SeenFlows: 2, SeenWorking: 1, SeenUnreplied: 1}
	if diff := cmp.Diff(want, tab.Summary().Hairpin); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestRepliedSticks: a flow's reply, reported by an update, stays with it.
func TestRepliedSticks(t *testing.T) {
	tab := New(Config{})
	f := nat(UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	tab.Apply(Event{Type: EventNew, Flow: f})
	if got := tab.Flows(); len(got) != 1 || got[0].Replied {
		t.Fatalf("new flow: %+v, want one, not replied", got)
	}
	f.Replied = true
	tab.Apply(Event{Type: EventUpdate, Flow: f})
	f.Replied = false // a dump's copy never unsets it
	tab.Apply(Event{Type: EventNew, Flow: f})
	if got := tab.Flows(); len(got) != 1 || !got[0].Replied {
		t.Errorf("after the reply: %+v, want one, replied", got)
	}
}
