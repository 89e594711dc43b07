package enforce

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
)

// memBackend keeps pins in memory; it stands for the kernel only in these
// tests of the Enforcer's bookkeeping (the real backends are tested in the
// lab).
type memBackend struct {
	pins        map[endpointKey]Pin
	present     bool
	installs    int
	failNext    error // the next Update fails
	failInstall error // the next Install fails after half the pins
}

func newMem() *memBackend { return &memBackend{pins: map[endpointKey]Pin{}} }

func (m *memBackend) Name() string { return "mem" }
func (m *memBackend) Install(pins []Pin) error {
	m.installs++
	m.pins, m.present = map[endpointKey]Pin{}, true
	if err := m.failInstall; err != nil {
		m.failInstall = nil
		pins = pins[:len(pins)/2] // as nftables' later batches would
		for _, p := range pins {
			m.pins[p.key()] = p
		}
		return err
	}
	for _, p := range pins {
		m.pins[p.key()] = p
	}
	return nil
}
func (m *memBackend) Update(add, del []Pin) error {
	if err := m.failNext; err != nil {
		m.failNext = nil
		return err
	}
	for _, p := range del {
		if _, ok := m.pins[p.key()]; !ok {
			return errors.New("no such pin")
		}
		delete(m.pins, p.key())
	}
	for _, p := range add {
		if old, ok := m.pins[p.key()]; ok && old != p {
			return errors.New("element exists with other data") // as nftables refuses it
		}
		m.pins[p.key()] = p
	}
	return nil
}
func (m *memBackend) Installed() (bool, error) { return m.present, nil }
func (m *memBackend) Pins() ([]Pin, error) {
	var out []Pin
	for _, p := range m.pins {
		out = append(out, p)
	}
	sortPins(out)
	return out, nil
}
func (m *memBackend) Remove() error { m.pins, m.present = map[endpointKey]Pin{}, false; return nil }

// memSysctl is a sysctl table.
type memSysctl map[string]int

func (m memSysctl) Get(name string) (int, error) {
	v, ok := m[name]
	if !ok {
		return 0, errors.New("no sysctl " + name)
	}
	return v, nil
}
func (m memSysctl) Set(name string, v int) error { m[name] = v; return nil }

func newEnforcer(t *testing.T, b Backend, tab *conntrackmap.Table) *Enforcer {
	t.Helper()
	e, err := New(Config{Backend: b, Table: tab})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEnforcerAdoptsWithoutReinstalling(t *testing.T) {
	b := newMem()
	pin := Pin{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}
	b.Install([]Pin{pin})
	tab := conntrackmap.New(conntrackmap.Config{})
	e := newEnforcer(t, b, tab)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	if b.installs != 1 {
		t.Errorf("complete rules were reinstalled at start (%d installs)", b.installs)
	}
	if got := e.Pins(); !cmp.Equal(got, []Pin{pin}, equateNet) {
		t.Errorf("adopted pins = %v, want %v", got, pin)
	}
}

func TestEnforcerInstallsWhenRulesAreMissing(t *testing.T) {
	b := newMem()
	tab := conntrackmap.New(conntrackmap.Config{})
	f := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f})
	e := newEnforcer(t, b, tab)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	if b.installs != 1 || len(b.pins) != 1 {
		t.Fatalf("after Start: %d installs, pins %v; want the live flow pinned", b.installs, b.pins)
	}

	// A flush removes everything; the next check puts it back.
	b.Remove()
	e.check()
	if st := e.Status(); !b.present || len(b.pins) != 1 || st.Reinstalls != 1 || !st.Installed {
		t.Errorf("after a flush and a check: present %v, pins %v, status %+v", b.present, b.pins, st)
	}

	// A failed update makes the next check reinstall too.
	b.failNext = errors.New("boom")
	g := flow(conntrackmap.UDP, "198.51.100.11:5000", "203.0.113.10:3478", "203.0.113.1:40001")
	tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: g})
	e.Events([]conntrackmap.Event{{Type: conntrackmap.EventNew, Flow: g}})
	if len(b.pins) != 1 || e.Status().Error == "" {
		t.Fatalf("failed update: pins %v, status error %q", b.pins, e.Status().Error)
	}
	e.check()
	if len(b.pins) != 2 {
		t.Errorf("after the check: pins %v, want both", b.pins)
	}
}

// startKilling starts an Enforcer on a memBackend whose Kill records the
// flows it deletes in *killed.
func startKilling(t *testing.T, tab *conntrackmap.Table) (*Enforcer, *[]conntrackmap.Flow) {
	t.Helper()
	killed := new([]conntrackmap.Flow)
	e, err := New(Config{Backend: newMem(), Table: tab, Kill: func(f conntrackmap.Flow) error { *killed = append(*killed, f); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	return e, killed
}

func TestEnforcerKillsFlowsThatMissedTheirPin(t *testing.T) {
	tab := conntrackmap.New(conntrackmap.Config{})
	e, killed := startKilling(t, tab)
	f1 := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	f2 := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.11:3478", "203.0.113.1:51000")
	for _, f := range []conntrackmap.Flow{f1, f2} {
		tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f})
	}
	e.Events([]conntrackmap.Event{{Type: conntrackmap.EventNew, Flow: f1}, {Type: conntrackmap.EventNew, Flow: f2}})
	if !cmp.Equal(*killed, []conntrackmap.Flow{f2}, equateNet) {
		t.Errorf("killed %v, want the flow that missed the pin", *killed)
	}
	if s := e.Status(); s.Pins != 1 || s.Repaired != 1 || s.InstallP99 <= 0 {
		t.Errorf("status = %+v, want 1 pin, 1 repaired, a latency", s)
	}
}

func TestTimeoutsRaisedAndRestored(t *testing.T) {
	sys := memSysctl{sysUDP: 30, sysUDPStream: 120, sysTCPEst: 432000}
	for _, n := range status.TCPTransitory {
		sys[n] = 120
	}
	sys["net.netfilter.nf_conntrack_tcp_timeout_syn_sent"] = 300 // already above the floor
	orig := memSysctl{}
	for k, v := range sys {
		orig[k] = v
	}
	floors, err := TimeoutFloors(300)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "run", "enforce.json")
	start := func() *Enforcer {
		e, err := New(Config{Table: conntrackmap.New(conntrackmap.Config{}), Sysctl: sys, Floors: floors, StatePath: state})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	if sys[sysUDP] != 300 || sys[sysUDPStream] != 300 || sys[sysTCPEst] != 432000 ||
		sys["net.netfilter.nf_conntrack_tcp_timeout_syn_sent"] != 300 || sys["net.netfilter.nf_conntrack_tcp_timeout_fin_wait"] != 240 {
		t.Fatalf("sysctls after Start: %v", sys)
	}
	if got := len(e.Status().Raised); got != 7 {
		t.Errorf("%d timeout changes reported, want 7: %+v", got, e.Status().Raised)
	}

	// A second start (after a crash) keeps the first originals.
	if got := start().Status().Raised[0]; got.Was != orig[got.Name] {
		t.Errorf("after a restart: %+v, want the original %d", got, orig[got.Name])
	}

	if err := Cleanup(nil, sys, state); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(sys, orig) {
		t.Errorf("after Cleanup: %v\nwant %v", sys, orig)
	}
	if err := Cleanup(nil, sys, state); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

func TestTimeoutFloorRefusesLowUDP(t *testing.T) {
	if _, err := TimeoutFloors(60); err == nil {
		t.Error("TimeoutFloors(60) accepted a UDP timeout under RFC 4787's two minutes")
	}
}

func TestEnforcerKillsHairpinMisses(t *testing.T) {
	tab := conntrackmap.New(conntrackmap.Config{})
	e, killed := startKilling(t, tab)
	// A LAN host sends to B's public endpoint before B's pin exists: no
	// DNAT, and conntrack keeps it so.
	early := conntrackmap.Flow{Proto: conntrackmap.UDP,
		Orig:  conntrackmap.Tuple{Src: ap("198.51.100.10:5000"), Dst: ap("203.0.113.1:41000")},
		Reply: conntrackmap.Tuple{Src: ap("203.0.113.1:41000"), Dst: ap("198.51.100.10:5000")}}
	e.Missed(early)
	if len(*killed) != 0 {
		t.Fatalf("killed %v before any pin", *killed)
	}
	fb := flow(conntrackmap.UDP, "198.51.100.11:6000", "203.0.113.10:3478", "203.0.113.1:41000")
	tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: fb})
	e.Events([]conntrackmap.Event{{Type: conntrackmap.EventNew, Flow: fb}})
	if !cmp.Equal(*killed, []conntrackmap.Flow{early}, equateNet) {
		t.Fatalf("after B's pin: killed %v, want the early hairpin flow", *killed)
	}
	// After the pin, a miss (the instant before the pin reached the kernel)
	// is killed at once; a miss to an unpinned endpoint is not.
	late := early
	late.Orig.Src, late.Reply.Dst = ap("198.51.100.12:5000"), ap("198.51.100.12:5000")
	e.Missed(late)
	other := early
	other.Orig.Dst, other.Reply.Src = ap("203.0.113.1:42000"), ap("203.0.113.1:42000")
	e.Missed(other)
	if !cmp.Equal(*killed, []conntrackmap.Flow{early, late}, equateNet) {
		t.Errorf("killed %v, want the early and late hairpin flows only", *killed)
	}
}

func TestEnforcerRetriesAPartialInstall(t *testing.T) {
	b := newMem()
	tab := conntrackmap.New(conntrackmap.Config{})
	for _, f := range []conntrackmap.Flow{
		flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000"),
		flow(conntrackmap.UDP, "198.51.100.11:5000", "203.0.113.10:3478", "203.0.113.1:40001"),
	} {
		tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f})
	}
	e := newEnforcer(t, b, tab)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	b.Remove()
	b.failInstall = errors.New("ENFILE")
	e.check() // fails half way; the rules now look installed
	if len(b.pins) != 1 {
		t.Fatalf("after the failed install: %d pins in the kernel, want 1", len(b.pins))
	}
	e.check()
	if st := e.Status(); len(b.pins) != 2 || st.Reinstalls != 1 || st.Failures != 1 {
		t.Errorf("after the next check: pins %v, status %+v; want both pins back, one reinstall, one failure", b.pins, st)
	}
}

func TestKernelPinsMissingMeansReinstall(t *testing.T) {
	b := &learningMem{newMem()}
	tab := conntrackmap.New(conntrackmap.Config{})
	e := newEnforcer(t, b, tab)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	f1 := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f1})
	e.Events([]conntrackmap.Event{{Type: conntrackmap.EventNew, Flow: f1}})
	// The kernel loses the pin (say a failed batch); the next flow, which
	// a learning kernel could only have put elsewhere, proves it.
	delete(b.pins, endpointKey{conntrackmap.UDP, ap("198.51.100.10:5000")})
	f2 := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.11:3478", "203.0.113.1:41000")
	tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f2})
	e.Events([]conntrackmap.Event{{Type: conntrackmap.EventNew, Flow: f2}})
	e.check()
	if p, ok := b.pins[endpointKey{conntrackmap.UDP, ap("198.51.100.10:5000")}]; !ok || p.Public != ap("203.0.113.1:40000") {
		t.Errorf("after the check: kernel pin %v, %v; want the planner's 203.0.113.1:40000 back", p, ok)
	}
}

// learningMem is a memBackend that says it pins in the kernel by itself.
type learningMem struct{ *memBackend }

func (learningMem) LearnsPins() bool { return true }

func TestStartDropsPinsOfOtherAddressesAndRules(t *testing.T) {
	b := newMem()
	keep := Pin{conntrackmap.UDP, ap("198.51.100.10:5000"), ap("203.0.113.1:40000")}
	old := Pin{conntrackmap.UDP, ap("198.51.100.11:5000"), ap("203.0.113.9:40000")} // the WAN's address before a reconnect
	b.Install([]Pin{keep, old})
	state := filepath.Join(t.TempDir(), "enforce.json")
	start := func(rules Rules) *Enforcer {
		e, err := New(Config{Backend: b, Table: conntrackmap.New(conntrackmap.Config{}), StatePath: state, Rules: rules,
			Public: func(a netip.Addr) bool { return a == keep.Public.Addr() }})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start(Rules{WAN: "eth0", Mapping: true})
	if got, _ := b.Pins(); !cmp.Equal(got, []Pin{keep}, equateNet) || !cmp.Equal(e.Pins(), []Pin{keep}, equateNet) {
		t.Errorf("kernel pins %v, planner pins %v; want only %v", got, e.Pins(), keep)
	}
	installs := b.installs
	start(Rules{WAN: "eth0", Mapping: true})
	if b.installs != installs {
		t.Error("a restart with the same rules reinstalled them")
	}
	start(Rules{WAN: "pppoe-wan", Mapping: true})
	if b.installs != installs+1 {
		t.Error("a restart with rules for another interface kept the old rules")
	}
}

func TestUnlearnToleratesPinsTheKernelNeverLearned(t *testing.T) {
	b := newMem()
	learned := Pin{conntrackmap.UDP, ap("198.51.100.10:5001"), ap("203.0.113.1:40001")}
	never := Pin{conntrackmap.UDP, ap("198.51.100.11:5001"), ap("203.0.113.1:40002")}
	b.Install([]Pin{learned})
	e := newEnforcer(t, b, conntrackmap.New(conntrackmap.Config{}))
	keep := Pin{conntrackmap.UDP, ap("198.51.100.12:5000"), ap("203.0.113.1:40003")}
	if !e.apply(Changes{Unlearn: []Pin{never, learned}, Add: []Pin{keep}}) {
		t.Fatal("apply failed on a pin the kernel never learned")
	}
	if got, _ := b.Pins(); !cmp.Equal(got, []Pin{keep}, equateNet) {
		t.Errorf("kernel pins %v, want the learned one gone and %v added", got, keep)
	}
}

// TestACollisionWithALearnedPinIsNoReload: an update the kernel refuses
// because it learned a pin the agent does not hold (EEXIST, as under a
// flood) puts every pin back, counted apart from a firewall reload and
// from failures.
func TestACollisionWithALearnedPinIsNoReload(t *testing.T) {
	b := &learningMem{newMem()}
	tab := conntrackmap.New(conntrackmap.Config{})
	e := newEnforcer(t, b, tab)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	f := flow(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:40000")
	tab.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f})
	b.failNext = fmt.Errorf("nftables update: %w", syscall.EEXIST)
	e.Events([]conntrackmap.Event{{Type: conntrackmap.EventNew, Flow: f}})
	e.check()
	st := e.Status()
	if len(b.pins) != 1 || st.PinsPutBack != 1 || st.Reinstalls != 0 || st.Failures != 0 || st.Error != "" {
		t.Errorf("pins %v, status %+v; want the pin put back, no reinstall, no failure", b.pins, st)
	}
}
