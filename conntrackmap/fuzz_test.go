package conntrackmap

import (
	"net/netip"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// eventsFrom decodes fuzz input into events over a small universe of
// addresses and ports, so that flows collide, share and clash often.
// Each event takes 4 bytes: type+proto, private, remote, public.
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
		evs = append(evs, Event{Type: typ, Flow: Flow{Proto: proto,
			Orig: Tuple{Src: priv, Dst: remote}, Reply: Tuple{Src: remote, Dst: public}}})
	}
	return evs
}

// model is the obvious, slow table: the set of live flows, keyed like
// conntrack by the original tuple; the first flow of a key wins.
type model map[flowKey[[16]byte]]Flow

func (m model) apply(ev Event) {
	fk, _, _ := keysOf[[16]byte](ev.Flow)
	switch _, ok := m[fk]; {
	case ev.Type == EventDestroy:
		delete(m, fk)
	case !ok:
		m[fk] = ev.Flow
	}
}

// live counts, over the model's flows, the keys that have two or more
// distinct values: the live violations the table must report.
func (m model) live(key, value func(Flow) any) (keys, conflicted int) {
	vals := map[any]map[any]bool{}
	for _, f := range m {
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
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, m := New(Config{Evidence: 4}), model{}
		for _, ev := range eventsFrom(data) {
			if ev.Type == 0 {
				resyncChangesNothing(t, tab, m)
				continue
			}
			tab.Apply(ev)
			m.apply(ev)
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
	flows := make([]Flow, 0, len(m))
	for _, f := range m {
		flows = append(flows, f)
	}
	tab.Replace(flows)
	after := tab.Summary()
	if diff := cmp.Diff(before, after, equateNet); diff != "" {
		t.Fatalf("a resync to the same flows changed the summary (-before +after):\n%s", diff)
	}
}

func checkAgainstModel(t *testing.T, tab *Table, m model) {
	t.Helper()
	want := make([]Flow, 0, len(m))
	for _, f := range m {
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
}

func sortFlows(fs []Flow) {
	sort.Slice(fs, func(i, j int) bool { return lessFlow(fs[i], fs[j]) })
}
