package conntrackmap

import (
	"net/netip"
	"reflect"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// eventsFrom decodes fuzz input into events over a small universe of
// addresses and ports, so that flows collide, share and clash often.
// Each event takes 4 bytes: type+proto+hairpin, private, remote, public.
// Bit 0x04 of the first makes a hairpinned flow (to a public endpoint of
// the NAT, sent on to a LAN host), 0x08 a replied one, 0x10 one whose
// receiver sees the private source; a replied hairpinned update is a
// Table.MarkReplied.
func eventsFrom(data []byte) []Event {
	var evs []Event
	for ; len(data) >= 4 && len(evs) < 1024; data = data[4:] {
		typ := EventType(data[0] % 4) // 0: a resync marker
		proto := UDP
		if data[0]&0x80 != 0 {
			proto = TCP
		}
		priv := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 10 + data[1]%3}), 4000+uint16(data[1]>>2%3))
		remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 10 + data[2]%2}), 3478+uint16(data[2]>>1%2))
		public := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 1 + data[3]%2}), 4000+uint16(data[3]>>1%3))
		f := Flow{Proto: proto, Orig: Tuple{Src: priv, Dst: remote}, Reply: Tuple{Src: remote, Dst: public},
			Replied: data[0]&0x08 != 0}
		if data[0]&0x04 != 0 {
			f.Hairpin, f.Orig.Dst = HairpinPublic, netip.AddrPortFrom(public.Addr(), 4000+uint16(data[2]%3))
			f.Reply.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 10 + data[2]>>2%3}), 4000+uint16(data[2]>>4%3))
			if data[0]&0x10 != 0 {
				f.Hairpin, f.Reply.Dst = HairpinPrivate, priv
			}
		}
		evs = append(evs, Event{Type: typ, Flow: f})
	}
	return evs
}

// model is the obvious, slow table: the set of live flows, keyed like
// conntrack by the original tuple; the first flow of a key wins.
type model struct {
	flows    map[flowKey[[16]byte]]Flow // modelled as mappings, without Hairpin; Replied once any event had it
	hairpins map[flowKey[[16]byte]]Flow // hairpinned flows, Replied once any event had it
}

func newModel() model {
	return model{flows: map[flowKey[[16]byte]]Flow{}, hairpins: map[flowKey[[16]byte]]Flow{}}
}

func (m model) apply(ev Event) {
	fk, _, _ := keysOf[[16]byte](ev.Flow)
	if ev.Type == EventDestroy {
		delete(m.flows, fk)
		delete(m.hairpins, fk)
		return
	}
	if old, ok := m.flows[fk]; ok && ev.Flow.Hairpin != HairpinPrivate {
		old.Replied = old.Replied || ev.Flow.Replied // a reply sticks, whatever copy comes later
		m.flows[fk] = old
	} else if ev.Flow.Hairpin != HairpinPrivate {
		f := ev.Flow
		f.Hairpin, f.Reply.Src = NotHairpin, f.Orig.Dst
		m.flows[fk] = f
	}
	if ev.Flow.Hairpin == NotHairpin {
		return
	}
	h, ok := m.hairpins[fk]
	if !ok {
		h = ev.Flow
	}
	h.Replied = h.Replied || ev.Flow.Replied
	m.hairpins[fk] = h
}

// markReplied marks a live hairpinned flow replied; it adds none.
func (m model) markReplied(f Flow) {
	fk, _, _ := keysOf[[16]byte](f)
	if h, ok := m.hairpins[fk]; ok {
		h.Replied = true
		m.hairpins[fk] = h
	}
}

// resynced follows a resync of m.all(): the table re-adds each hairpinned
// flow it maps, so that flow's reply sticks to its mapping's flow too.
func (m model) resynced() {
	for k, h := range m.hairpins {
		if f, ok := m.flows[k]; ok && h.Replied && h.SourceNATed() && h.Hairpin != HairpinPrivate {
			f.Replied = true
			m.flows[k] = f
		}
	}
}

// all returns every flow the model holds, as a dump would show them.
func (m model) all() []Flow {
	out := make([]Flow, 0, len(m.flows)+len(m.hairpins))
	for _, f := range m.flows {
		out = append(out, f)
	}
	for _, f := range m.hairpins {
		out = append(out, f)
	}
	return out
}

// live counts, over the model's flows, the keys that have two or more
// distinct values: the live violations the table must report.
func (m model) live(key, value func(Flow) any) (keys, conflicted int) {
	vals := map[any]map[any]bool{}
	for _, f := range m.flows {
		k := key(f)
		if vals[k] == nil {
			vals[k] = map[any]bool{}
		}
		vals[k][value(f)] = true
	}
	for _, vs := range vals {
		if len(vs) > 1 {
			conflicted++
		}
	}
	return len(vals), conflicted
}

func FuzzTableMatchesModel(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 1, 2})
	f.Add([]byte{0, 1, 0, 0, 0x80, 1, 1, 2, 2, 1, 0, 0, 0, 5, 1, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 4, 0, 1, 0, 2, 1, 3})
	// Hairpinned: new, replied, a resync, a private source, destroyed.
	f.Add([]byte{0x05, 0, 4, 0, 0x0e, 0, 4, 0, 0, 0, 0, 0, 0x15, 1, 5, 1, 0x07, 0, 4, 0, 0x17, 1, 5, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, m := New(Config{Evidence: 4}), newModel()
		for _, ev := range eventsFrom(data) {
			switch {
			case ev.Type == 0:
				resyncChangesNothing(t, tab, m)
				m.resynced()
			case ev.Type == EventUpdate && ev.Flow.Hairpin != NotHairpin && ev.Flow.Replied:
				tab.MarkReplied([]Flow{ev.Flow}) // the daemon's lookup before a report
				m.markReplied(ev.Flow)
			default:
				tab.Apply(ev)
				m.apply(ev)
			}
		}
		checkAgainstModel(t, tab, m)
	})
}

// resyncChangesNothing replaces the table's flows with the same flows, as
// a resync after lost events that in fact lost nothing: no counter moves and
// no evidence is added.
func resyncChangesNothing(t *testing.T, tab *Table, m model) {
	t.Helper()
	before := tab.Summary()
	tab.Replace(m.all())
	after := tab.Summary()
	if reflect.DeepEqual(before, after) {
		return // the common case, without cmp's cost in the fuzzer's loop
	}
	if diff := cmp.Diff(before, after, equateNet); diff != "" {
		t.Fatalf("a resync to the same flows changed the summary (-before +after):\n%s", diff)
	}
}

func checkAgainstModel(t *testing.T, tab *Table, m model) {
	t.Helper()
	want := make([]Flow, 0, len(m.flows))
	for _, f := range m.flows {
		want = append(want, f)
	}
	sortFlows(want)
	if diff := cmp.Diff(want, tab.Flows(), equateNet); diff != "" {
		t.Fatalf("flows (-model +table):\n%s", diff)
	}
	s := tab.Summary()
	mappings, inconsistent := m.live(func(f Flow) any { return endpointKey[[16]byte]{f.Proto, endpointOf[[16]byte](f.Private())} },
		func(f Flow) any { return f.Public() })
	_, overloaded := m.live(func(f Flow) any { return endpointKey[[16]byte]{f.Proto, endpointOf[[16]byte](f.Public())} },
		func(f Flow) any { return f.Private() })
	hosts, unpaired := m.live(func(f Flow) any { return f.Private().Addr() }, func(f Flow) any { return f.Public().Addr() })
	got := [...]int{s.UDP.Mappings + s.TCP.Mappings, s.UDP.Inconsistent + s.TCP.Inconsistent,
		s.UDP.Overloaded + s.TCP.Overloaded, s.Hosts, s.Unpaired}
	if exp := [...]int{mappings, inconsistent, overloaded, hosts, unpaired}; got != exp {
		t.Fatalf("mappings, inconsistent, overloaded, hosts, unpaired = %v, model says %v", got, exp)
	}
	if n := len(s.Violations); n > 3*4 {
		t.Fatalf("kept %d violations, bound is 12", n)
	}
	checkHairpinsAgainstModel(t, s, m)
}

// checkHairpinsAgainstModel compares the live hairpin figures with the
// model's hairpinned flows.
func checkHairpinsAgainstModel(t *testing.T, s Summary, m model) {
	t.Helper()
	var want HairpinSummary
	for _, f := range m.hairpins {
		want.Flows++
		if f.Replied {
			want.Replied++
		}
		if f.Hairpin == HairpinPrivate {
			want.Private++
		}
	}
	got := HairpinSummary{Flows: s.Hairpin.Flows, Replied: s.Hairpin.Replied, Private: s.Hairpin.Private}
	if got != want {
		t.Fatalf("live hairpins %+v, model says %+v", got, want)
	}
	live := 0
	for _, h := range s.Hairpins {
		if h.Live {
			live++
			if _, ok := m.hairpins[hairpinKeyOf(Flow{Proto: h.Proto, Orig: Tuple{Src: h.Sender, Dst: h.Public}})]; !ok {
				t.Fatalf("live hairpinned flow %+v is not in the model", h)
			}
		}
	}
	if n := len(s.Hairpins); live > 4 || n-live > 4 || s.Hairpin.SeenPrivate > s.Hairpin.SeenFlows {
		t.Fatalf("kept %d hairpinned flows (%d live), bound is 4 + 4; seen %+v", n, live, s.Hairpin)
	}
}

func sortFlows(fs []Flow) {
	sort.Slice(fs, func(i, j int) bool { return lessFlow(fs[i], fs[j]) })
}
