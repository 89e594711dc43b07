package enforce

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/conntrackmap"
)

// udpFlow is host's flow from port to a server, via public port pub.
func udpFlow(host string, port, pub int) conntrackmap.Flow {
	return flow(conntrackmap.UDP, fmt.Sprintf("%s:%d", host, port), "203.0.113.10:3478", fmt.Sprintf("203.0.113.1:%d", pub))
}

func udpPin(host string, port, pub int) Pin {
	return Pin{conntrackmap.UDP, ap(fmt.Sprintf("%s:%d", host, port)), ap(fmt.Sprintf("203.0.113.1:%d", pub))}
}

// TestForgedPinsMakeRoomForTheHost: a host whose quota is full of pins
// whose flows never saw a reply (as a forged source's) still gets a pin:
// the oldest unreplied one makes room. Replied pins are never evicted.
func TestForgedPinsMakeRoomForTheHost(t *testing.T) {
	w := newWorld(t, PlannerConfig{Quota: 3})
	w.answer(udpFlow("198.51.100.11", 5000, 40000))
	w.start(udpFlow("198.51.100.11", 20000, 40001)) // forged
	w.start(udpFlow("198.51.100.11", 20001, 40002)) // forged
	w.wantChanges("the host's next endpoint", w.start(udpFlow("198.51.100.11", 6000, 40003)), Changes{
		Add: []Pin{udpPin("198.51.100.11", 6000, 40003)}, Delete: []Pin{udpPin("198.51.100.11", 20000, 40001)}})
	// Once its flows are replied, the quota holds.
	w.answer(udpFlow("198.51.100.11", 7000, 40004))
	w.answer(udpFlow("198.51.100.11", 6000, 40003))
	w.answer(udpFlow("198.51.100.11", 8000, 40005))
	if s := w.p.Stats(); s.Pins != 3 || s.Evicted != 2 || s.QuotaHits != 1 || s.Unreplied != 0 {
		t.Errorf("stats %+v, want 3 pins, 2 evicted, 1 quota hit, none unreplied", s)
	}
}

// TestUnrepliedPinsAreBounded: beyond UnrepliedMax, a new unreplied pin
// takes the place of the oldest, whichever host holds it; replied pins
// do not count.
func TestUnrepliedPinsAreBounded(t *testing.T) {
	w := newWorld(t, PlannerConfig{UnrepliedMax: 2})
	w.answer(udpFlow("198.51.100.10", 5000, 40000))
	for i := range 4 {
		w.start(udpFlow(fmt.Sprintf("198.51.100.%d", 100+i), 20000, 41000+i))
	}
	want := []Pin{udpPin("198.51.100.10", 5000, 40000), udpPin("198.51.100.102", 20000, 41002),
		udpPin("198.51.100.103", 20000, 41003)}
	if d := cmpPins(want, w.p.Pins()); d != "" {
		t.Errorf("pins (-want +got):\n%s", d)
	}
	if s := w.p.Stats(); s.Evicted != 2 || s.Unreplied != 2 {
		t.Errorf("stats %+v, want 2 evicted, 2 unreplied", s)
	}
}

// TestUnrepliedPinsLiveShort: a pin whose flow never saw a reply goes
// after UnrepliedLife even while the flow lives; a replied one stays.
func TestUnrepliedPinsLiveShort(t *testing.T) {
	w := newWorld(t, PlannerConfig{UnrepliedLife: 10 * time.Second})
	w.start(udpFlow("198.51.100.100", 20000, 41000))
	w.answer(udpFlow("198.51.100.10", 5000, 40000))
	w.wantChanges("first sweep", w.p.Sweep(t0, w.table), Changes{})
	w.wantChanges("within its life", w.p.Sweep(t0.Add(9*time.Second), w.table), Changes{})
	w.wantChanges("its life over", w.p.Sweep(t0.Add(10*time.Second), w.table),
		Changes{Delete: []Pin{udpPin("198.51.100.100", 20000, 41000)}})
	if s := w.p.Stats(); s.Unanswered != 1 || s.Pins != 1 || s.Unreplied != 0 {
		t.Errorf("stats %+v, want 1 unanswered, 1 pin left", s)
	}
}

// TestReserve: when the pins leave only the reserve of a public address's
// ports, a host holding its share is refused and a host with few pins
// still gets one.
func TestReserve(t *testing.T) {
	w := newWorld(t, PlannerConfig{Reserve: portSpan - ReserveShare - 1, Quota: -1})
	for i := range ReserveShare + 1 {
		w.answer(udpFlow("198.51.100.10", 5000+i, 40000+i))
	}
	w.wantChanges("busy host under pressure", w.start(udpFlow("198.51.100.10", 6000, 45000)), Changes{})
	w.wantChanges("another host", w.start(udpFlow("198.51.100.11", 6000, 45001)),
		Changes{Add: []Pin{udpPin("198.51.100.11", 6000, 45001)}})
	if s := w.p.Stats(); s.PressureHits != 1 || s.Pins != ReserveShare+2 {
		t.Errorf("stats %+v, want one pressure hit, %d pins", s, ReserveShare+2)
	}
	// Unreplied pins go first: the busy host's endpoint takes the place
	// of the other host's unreplied pin.
	w.wantChanges("busy host, an unreplied pin held", w.start(udpFlow("198.51.100.10", 6001, 45002)), Changes{
		Add: []Pin{udpPin("198.51.100.10", 6001, 45002)}, Delete: []Pin{udpPin("198.51.100.11", 6000, 45001)}})
}

// TestSettle: a pin made and evicted in one batch reaches the kernel
// neither way; one the kernel learned itself is unlearned.
func TestSettle(t *testing.T) {
	a, b, c := udpPin("198.51.100.10", 5000, 40000), udpPin("198.51.100.11", 5000, 40001), udpPin("198.51.100.12", 5000, 40002)
	for _, kernel := range []bool{false, true} {
		ch := Changes{Add: []Pin{a, b}, Delete: []Pin{b, c}}
		ch.settle(kernel)
		want := Changes{Add: []Pin{a}, Delete: []Pin{c}}
		if kernel {
			want.Unlearn = []Pin{b}
		}
		w := &world{t: t}
		w.wantChanges(fmt.Sprintf("kernel pins %v", kernel), ch, want)
	}
}

func cmpPins(want, got []Pin) string {
	sortPins(want)
	return cmp.Diff(want, got, equateNet)
}

// TestADumpsUnrepliedFlowsNeverEvict: flows found in a dump (a flood's
// overflowed events) do not evict unreplied pins; over the budget they
// stay unpinned, counted as strays the kernel may have learned. A
// replied one is pinned: it is not bound by that budget.
func TestADumpsUnrepliedFlowsNeverEvict(t *testing.T) {
	w := newWorld(t, PlannerConfig{UnrepliedMax: 1, KernelPins: true})
	w.start(udpFlow("198.51.100.100", 20000, 41000))
	dumped := udpFlow("198.51.100.101", 20000, 41001)
	w.table.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: dumped})
	var ch Changes
	w.p.Observe(dumped, false, w.table, &ch)
	w.wantChanges("a dump's unreplied flow", ch, Changes{Strays: 1})
	dumped.Replied = true
	ch = Changes{}
	w.p.Observe(dumped, false, w.table, &ch)
	w.wantChanges("a dump's replied flow", ch, Changes{Add: []Pin{udpPin("198.51.100.101", 20000, 41001)}})
}
