package enforce

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/natp2p/natp2p/conntrackmap"
)

var (
	ap        = netip.MustParseAddrPort
	equateNet = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})
	t0        = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

// flow is a source-NATed flow private -> remote via public.
func flow(p conntrackmap.Proto, private, remote, public string) conntrackmap.Flow {
	return conntrackmap.Flow{Proto: p,
		Orig:  conntrackmap.Tuple{Src: ap(private), Dst: ap(remote)},
		Reply: conntrackmap.Tuple{Src: ap(remote), Dst: ap(public)}}
}

// world is a live table and a planner that sees every flow as it starts.
type world struct {
	t     *testing.T
	table *conntrackmap.Table
	p     *Planner
}

func newWorld(t *testing.T, cfg PlannerConfig) *world {
	return &world{t: t, table: conntrackmap.New(conntrackmap.Config{}), p: NewPlanner(cfg)}
}

func (w *world) start(f conntrackmap.Flow) Changes {
	w.table.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f})
	var ch Changes
	w.p.Observe(f, true, w.table, &ch)
	return ch
}

// answer starts f and lets it see a reply, as conntrack's UPDATE event
// reports it: its pin is then trusted.
func (w *world) answer(f conntrackmap.Flow) Changes {
	ch := w.start(f)
	f.Replied = true
	w.table.Apply(conntrackmap.Event{Type: conntrackmap.EventUpdate, Flow: f})
	w.p.Observe(f, false, w.table, &ch)
	return ch
}

func (w *world) end(f conntrackmap.Flow) {
	w.table.Apply(conntrackmap.Event{Type: conntrackmap.EventDestroy, Flow: f})
}

func (w *world) wantChanges(what string, got, want Changes) {
	w.t.Helper()
	if d := cmp.Diff(want, got, equateNet, cmpopts.EquateEmpty()); d != "" {
		w.t.Errorf("%s: changes (-want +got):\n%s", what, d)
	}
}

func TestFirstFlowPins(t *testing.T) {
	w := newWorld(t, PlannerConfig{})
	a1 := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	w.wantChanges("first flow", w.start(a1), Changes{Add: []Pin{
		{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}}})

	// A second flow through the pin changes nothing.
	a2 := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.11:3479", "203.0.113.1:40000")
	w.wantChanges("flow through the pin", w.start(a2), Changes{})

	// A flow made before the pin was in the kernel got another port: it is
	// killed so that its next packet takes the pin.
	a3 := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.12:3478", "203.0.113.1:51000")
	w.wantChanges("flow that missed the pin", w.start(a3), Changes{Kill: []conntrackmap.Flow{a3}})

	// The same private endpoint over TCP is a pin of its own.
	tc := flow(conntrackmap.TCP, "198.51.100.10:5000", "203.0.113.10:80", "203.0.113.1:40000")
	w.wantChanges("tcp", w.start(tc), Changes{Add: []Pin{
		{conntrackmap.TCP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}}})

	if s := w.p.Stats(); s.Pins != 2 || s.Pinned != 2 || s.Repaired != 1 {
		t.Errorf("stats = %+v, want 2 pins, 2 pinned, 1 repaired", s)
	}
}

func TestDumpedFlowsAreNeverKilled(t *testing.T) {
	w := newWorld(t, PlannerConfig{})
	w.start(flow(conntrackmap.TCP, "198.51.100.10:5000", "203.0.113.10:80", "203.0.113.1:40000"))
	old := flow(conntrackmap.TCP, "198.51.100.10:5000", "203.0.113.11:80", "203.0.113.1:41000")
	w.table.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: old})
	var ch Changes
	w.p.Observe(old, false, w.table, &ch)
	w.wantChanges("dumped flow", ch, Changes{})
}

func TestOverloadingOntoAPinIsMoved(t *testing.T) {
	ports := []int{9000 - portMin, 40000 - portMin, 42000 - portMin} // 9000 used by a flow, 40000 pinned
	w := newWorld(t, PlannerConfig{Intn: func(int) int { p := ports[0]; ports = ports[1:]; return p }})
	w.start(flow(conntrackmap.UDP, "198.51.100.12:7000", "203.0.113.10:53", "203.0.113.1:9000"))
	w.start(flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"))

	// Another host lands on the pinned public port (allowed by Linux when
	// the destinations differ): it is moved to a free port.
	b := flow(conntrackmap.UDP, "198.51.100.11:6000", "203.0.113.11:3478", "203.0.113.1:40000")
	w.wantChanges("overloading", w.start(b), Changes{
		Add:  []Pin{{conntrackmap.UDP, ap("198.51.100.11:6000"), ap("203.0.113.1:42000")}},
		Kill: []conntrackmap.Flow{b}})
	if s := w.p.Stats(); s.Moved != 1 {
		t.Errorf("Moved = %d, want 1", s.Moved)
	}
}

func TestNoFreePort(t *testing.T) {
	w := newWorld(t, PlannerConfig{Intn: func(int) int { return 40000 - portMin }})
	w.start(flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"))
	b := flow(conntrackmap.UDP, "198.51.100.11:6000", "203.0.113.11:3478", "203.0.113.1:40000")
	w.wantChanges("no free port", w.start(b), Changes{})
	if s := w.p.Stats(); s.NoPort != 1 || s.Pins != 1 {
		t.Errorf("stats = %+v, want NoPort 1 and one pin", s)
	}
}

func TestQuota(t *testing.T) {
	w := newWorld(t, PlannerConfig{Quota: 2})
	for i, port := range []string{"5000", "5001", "5002"} {
		ch := w.answer(flow(conntrackmap.UDP, "198.51.100.10:"+port, "203.0.113.10:3478", "203.0.113.1:4000"+port[3:]))
		if got, want := len(ch.Add), map[bool]int{true: 1, false: 0}[i < 2]; got != want {
			t.Errorf("flow %d: %d pins added, want %d", i, got, want)
		}
	}
	// Another host has its own quota.
	if ch := w.start(flow(conntrackmap.UDP, "198.51.100.11:5000", "203.0.113.10:3478", "203.0.113.1:41000")); len(ch.Add) != 1 {
		t.Errorf("second host: changes %+v, want a pin", ch)
	}
	if s := w.p.Stats(); s.QuotaHits != 1 {
		t.Errorf("QuotaHits = %d, want 1", s.QuotaHits)
	}
	if got := w.p.QuotaFull(); len(got) != 1 || got[0] != netip.MustParseAddr("198.51.100.10") {
		t.Errorf("QuotaFull = %v, want [198.51.100.10]", got)
	}
}

func TestSweepRemovesIdlePinsAfterGrace(t *testing.T) {
	w := newWorld(t, PlannerConfig{Grace: 30 * time.Second, Quota: 1})
	a := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	w.answer(a)
	w.wantChanges("live", w.p.Sweep(t0, w.table), Changes{})
	w.end(a)
	w.wantChanges("just ended", w.p.Sweep(t0.Add(time.Second), w.table), Changes{})
	w.wantChanges("within grace", w.p.Sweep(t0.Add(30*time.Second), w.table), Changes{})
	pin := Pin{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}
	w.wantChanges("after grace", w.p.Sweep(t0.Add(31*time.Second), w.table), Changes{Delete: []Pin{pin}})

	// The removed pin freed the host's quota and the public port.
	b := flow(conntrackmap.UDP, "198.51.100.10:5001", "203.0.113.10:3478", "203.0.113.1:40000")
	w.wantChanges("after removal", w.start(b), Changes{Add: []Pin{
		{conntrackmap.UDP, ap("198.51.100.10:5001"), ap("203.0.113.1:40000")}}})
}

func TestSweepForgetsIdlenessWhenAFlowComesBack(t *testing.T) {
	w := newWorld(t, PlannerConfig{Grace: 10 * time.Second})
	a := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	w.start(a)
	w.end(a)
	w.p.Sweep(t0, w.table)
	w.start(a) // the flow comes back: the idleness since t0 is forgotten
	w.end(a)
	w.wantChanges("idle again from t0+20s", w.p.Sweep(t0.Add(20*time.Second), w.table), Changes{})
	w.wantChanges("idle 5 s", w.p.Sweep(t0.Add(25*time.Second), w.table), Changes{})
	if len(w.p.Pins()) != 1 {
		t.Errorf("pins %v, want the pin kept", w.p.Pins())
	}
}

func TestSweepCountsDisagreement(t *testing.T) {
	w := newWorld(t, PlannerConfig{})
	var ch Changes
	w.p.Adopt([]Pin{{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}}, nil)
	old := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:41000")
	w.table.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: old})
	w.p.Observe(old, false, w.table, &ch)
	w.p.Sweep(t0, w.table)
	if s := w.p.Stats(); s.Disagreeing != 1 {
		t.Errorf("Disagreeing = %d, want 1", s.Disagreeing)
	}
}

func TestAdoptRejectsClashes(t *testing.T) {
	p := NewPlanner(PlannerConfig{})
	pins := []Pin{
		{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")},
		{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40001")},  // same private
		{conntrackmap.UDP, ap("198.51.100.11:5000"), ap("203.0.113.1:40000")},  // same public
		{conntrackmap.TCP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")},  // other protocol: fine
		{conntrackmap.UDP, ap("[2001:db8::1]:5000"), ap("[2001:db8::2]:5000")}, // not IPv4
	}
	clash := p.Adopt(pins, nil)
	want := []Pin{pins[1], pins[2], pins[4]}
	if d := cmp.Diff(want, clash, equateNet); d != "" {
		t.Errorf("clashing (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]Pin{pins[0], pins[3]}, p.Pins(), equateNet, cmpopts.SortSlices(func(a, b Pin) bool { return a.Proto < b.Proto })); d != "" {
		t.Errorf("pins (-want +got):\n%s", d)
	}
}

func TestRetainDropsPinsOfOldAddress(t *testing.T) {
	p := NewPlanner(PlannerConfig{})
	keep := Pin{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}
	drop := Pin{conntrackmap.UDP, ap("198.51.100.11:5000"), ap("203.0.113.2:40000")}
	p.Adopt([]Pin{keep, drop}, nil)
	ch := p.Retain(func(a netip.Addr) bool { return a == keep.Public.Addr() })
	if d := cmp.Diff(Changes{Delete: []Pin{drop}}, ch, equateNet, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if got := p.Pins(); len(got) != 1 || got[0] != keep {
		t.Errorf("pins = %v, want [%v]", got, keep)
	}
}

func TestObserveIgnoresWhatCannotBePinned(t *testing.T) {
	p := NewPlanner(PlannerConfig{})
	tab := conntrackmap.New(conntrackmap.Config{})
	for _, f := range []conntrackmap.Flow{
		flow(conntrackmap.UDP, "[2001:db8::10]:5000", "[2001:db8:1::1]:3478", "[2001:db8:2::1]:5000"),
		flow(conntrackmap.Proto(1), "198.51.100.10:0", "203.0.113.10:0", "203.0.113.1:0"),
	} {
		var ch Changes
		p.Observe(f, true, tab, &ch)
		if d := cmp.Diff(Changes{}, ch, equateNet, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("Observe(%v) changed (-want +got):\n%s", f, d)
		}
	}
}

func TestQuotaTakesKernelPinsOut(t *testing.T) {
	w := newWorld(t, PlannerConfig{Quota: 1, KernelPins: true})
	w.answer(flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"))
	over := flow(conntrackmap.UDP, "198.51.100.10:5001", "203.0.113.10:3478", "203.0.113.1:40001")
	w.wantChanges("over the quota", w.start(over), Changes{Unlearn: []Pin{
		{conntrackmap.UDP, ap("198.51.100.10:5001"), ap("203.0.113.1:40001")}}})
	// Held pins are adopted once only.
	if clash := w.p.Adopt(w.p.Pins(), nil); len(clash) != 0 {
		t.Errorf("Adopt of the held pins = %v, want no clash", clash)
	}
}

func TestSharedPublicIsNotPinned(t *testing.T) {
	ports := []int{42000 - portMin}
	w := newWorld(t, PlannerConfig{Quota: 1, KernelPins: true, Intn: func(int) int { p := ports[0]; return p }})
	// A host at its quota holds 40000 with an unpinned flow...
	w.answer(flow(conntrackmap.UDP, "198.51.100.12:7000", "203.0.113.10:53", "203.0.113.1:39000"))
	w.start(flow(conntrackmap.UDP, "198.51.100.12:7001", "203.0.113.10:3478", "203.0.113.1:40000"))
	// ...when another endpoint lands on 40000 (to another destination).
	// The kernel pinned it there; pinned there its flow to 203.0.113.10:3478
	// would clash, so it moves.
	b := flow(conntrackmap.UDP, "198.51.100.11:6000", "203.0.113.11:3478", "203.0.113.1:40000")
	w.wantChanges("shared with an unpinned flow", w.start(b), Changes{
		Add:     []Pin{{conntrackmap.UDP, ap("198.51.100.11:6000"), ap("203.0.113.1:42000")}},
		Unlearn: []Pin{{conntrackmap.UDP, ap("198.51.100.11:6000"), ap("203.0.113.1:40000")}},
		Kill:    []conntrackmap.Flow{b}})
}

func TestHairpinOnlyNeverKillsOrMoves(t *testing.T) {
	w := newWorld(t, PlannerConfig{HairpinOnly: true})
	w.start(flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"))
	// Mapping is not enforced: another port for another destination is
	// the router's choice, not a fault.
	other := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.11:3478", "203.0.113.1:41000")
	w.wantChanges("another port", w.start(other), Changes{})
	// Another endpoint on the pinned port gets no pin and is not moved.
	b := flow(conntrackmap.UDP, "198.51.100.11:6000", "203.0.113.12:3478", "203.0.113.1:40000")
	w.wantChanges("overloading", w.start(b), Changes{})
}

func TestAdoptHoldsTheQuota(t *testing.T) {
	p := NewPlanner(PlannerConfig{Quota: 1})
	a := Pin{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}
	b := Pin{conntrackmap.UDP, ap("198.51.100.10:5001"), ap("203.0.113.1:40001")}
	if rejected := p.Adopt([]Pin{a, b}, nil); len(rejected) != 1 || len(p.Pins()) != 1 {
		t.Errorf("Adopt with quota 1: rejected %v, pins %v; want one of each", rejected, p.Pins())
	}
}

func TestMaxPins(t *testing.T) {
	w := newWorld(t, PlannerConfig{MaxPins: 1})
	w.answer(flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"))
	w.wantChanges("over the cap", w.start(flow(conntrackmap.UDP, "198.51.100.11:5000", "203.0.113.10:3478", "203.0.113.1:40001")), Changes{})
	if s := w.p.Stats(); s.Pins != 1 || s.PressureHits != 1 {
		t.Errorf("stats %+v, want one pin and one pressure hit", s)
	}
}
