package enforce

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
	"github.com/natp2p/natp2p/internal/logx"
)

// DefaultWatch is how often the Enforcer checks that its rules are still
// in the kernel: a firewall reload or `nft flush ruleset` is repaired
// within about this long.
const DefaultWatch = 250 * time.Millisecond

// sweepEvery is how often idle pins are looked for.
const sweepEvery = time.Second

// reconcileEvery is how often the pins in the kernel are read back, to
// adopt those the kernel learned while conntrack events were lost.
const reconcileEvery = 30 * time.Second

// Config configures an Enforcer.
type Config struct {
	// Backend holds the pins; nil enforces timeouts only.
	Backend Backend
	// Table is the agent's view of conntrack.
	Table *conntrackmap.Table
	// Kill deletes a conntrack entry, so that the flow's next packet is
	// translated through the pins. Nil: flows are never killed.
	Kill func(conntrackmap.Flow) error
	// Sysctl and Floors raise the conntrack timeouts (TimeoutFloors); a nil
	// Floors leaves them alone.
	Sysctl Sysctl
	Floors map[string]int
	// StatePath is the state file (State); required with Floors. With a
	// Backend it also records the Rules' ID, so that rules made for other
	// interfaces are replaced at start.
	StatePath string
	// Rules are those the Backend was made with: the kernel's rules are
	// kept at start only when the state file names the same (Rules.ID, or
	// the ID an agent before it saved).
	Rules Rules
	// Public reports whether an address is one of the router's public
	// (WAN) addresses now: pins of any other address are dropped. Nil:
	// every address is.
	Public  func(netip.Addr) bool
	Planner PlannerConfig
	Watch   time.Duration // if zero, DefaultWatch
	Logger  *slog.Logger  // if nil, logs are discarded
	Now     func() time.Time
}

// Enforcer keeps the pins in the kernel in step with the flows.
type Enforcer struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	planner    *Planner
	state      State
	timeouts   []status.TimeoutChange
	installed  bool
	randomNAT  bool
	reinstall  bool // an update failed: put everything back
	reinstalls uint64
	putBack    uint64 // pins put back with the rules in place
	missing    bool   // the rules were found missing since the last install
	lastErr    string
	lastErrAt  time.Time
	failures   uint64
	latency    latencies // of recent pin installs
	misses     misses    // hairpin flows that came before their pin
}

// New checks cfg. It changes nothing: Start does.
func New(cfg Config) (*Enforcer, error) {
	if cfg.Table == nil {
		return nil, errors.New("enforce: no conntrack table")
	}
	if cfg.Floors != nil && (cfg.Sysctl == nil || cfg.StatePath == "") {
		return nil, errors.New("enforce: raising timeouts needs a sysctl writer and a state file")
	}
	if cfg.Watch <= 0 {
		cfg.Watch = DefaultWatch
	}
	if cfg.Logger == nil {
		cfg.Logger = logx.Discard()
	}
	if l, ok := cfg.Backend.(learner); ok && l.LearnsPins() {
		cfg.Planner.KernelPins = true
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Enforcer{cfg: cfg, log: cfg.Logger.With("component", "enforce"), planner: NewPlanner(cfg.Planner)}, nil
}

// Start raises the timeouts, adopts the pins a previous run left in the
// kernel (so that live flows keep their public endpoints) and makes the
// rules exist. Rules already complete are left as they are: a restart
// never duplicates or briefly removes them. Then the table's flows are
// pinned.
func (e *Enforcer) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadState(); err != nil {
		return err
	}
	if err := e.startTimeouts(); err != nil {
		return err
	}
	if e.cfg.Backend == nil {
		e.state.Backend, e.state.Rules = "", "" // timeouts only: no rules of ours
		return e.saveState()
	}
	found, err := e.cfg.Backend.Pins()
	if err != nil {
		return err
	}
	rejected := e.planner.Adopt(found, e.cfg.Public)
	ok, err := e.cfg.Backend.Installed()
	if err != nil {
		return err
	}
	same := e.cfg.StatePath == "" || e.cfg.Rules.namedBy(e.state.Rules, e.cfg.Backend.Name())
	keep := ok && same && len(rejected) == 0
	if !keep {
		e.recordFootprint()
		if err := e.cfg.Backend.Install(e.planner.Pins()); err != nil {
			return err
		}
	}
	e.state.Backend, e.state.Rules = e.cfg.Backend.Name(), e.cfg.Rules.ID(e.cfg.Backend.Name())
	if err := e.saveState(); err != nil {
		return err
	}
	e.installed = true
	e.lookAtRouterNAT()
	e.log.Info("enforcing", "backend", e.cfg.Backend.Name(), "adopted_pins", len(found)-len(rejected),
		"rules", map[bool]string{true: "kept", false: "installed"}[keep])
	e.observeTable()
	return nil
}

// Events takes a batch of conntrack events, after the table applied them.
// New flows are pinned at once, in one update of the kernel's rules.
func (e *Enforcer) Events(evs []conntrackmap.Event) {
	if e.cfg.Backend == nil {
		return
	}
	start := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	var ch Changes
	for _, ev := range evs {
		if ev.Type == conntrackmap.EventDestroy {
			continue
		}
		e.planner.Observe(ev.Flow, ev.Type == conntrackmap.EventNew, e.cfg.Table, &ch)
	}
	if e.apply(ch) && len(ch.Add) > 0 {
		e.latency.record(time.Since(start))
	}
}

// Resynced re-reads every flow after the table was refilled from a dump,
// as events may have been lost.
func (e *Enforcer) Resynced() {
	if e.cfg.Backend == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observeTable()
}

func (e *Enforcer) observeTable() {
	var ch Changes
	for _, f := range e.cfg.Table.Flows() {
		e.planner.Observe(f, false, e.cfg.Table, &ch)
	}
	e.apply(ch)
}

// Retain drops the pins of public addresses the router no longer has: the
// planner's, and those the kernel learned whose events the agent filtered
// out as no longer public.
func (e *Enforcer) Retain(public func(netip.Addr) bool) {
	if e.cfg.Backend == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.planner.Retain(public)
	if len(ch.Delete) > 0 {
		e.log.Info("WAN address gone: pins dropped", "pins", len(ch.Delete))
	}
	if !e.apply(ch) {
		return
	}
	e.dropStrays(public)
}

// dropStrays deletes the kernel's pins the planner does not hold and will
// not adopt (their public address is not the router's).
func (e *Enforcer) dropStrays(public func(netip.Addr) bool) {
	pins, err := e.cfg.Backend.Pins()
	if err != nil {
		e.fail("read pins", err)
		return
	}
	if rejected := e.planner.Adopt(pins, public); len(rejected) > 0 {
		e.apply(Changes{Delete: rejected})
	}
}

// apply puts changes in the kernel and reports whether it succeeded. A
// failed update leaves the kernel unknown, so everything is reinstalled
// at the next check.
func (e *Enforcer) apply(ch Changes) bool {
	if ch.Reinstall && !e.reinstall {
		e.reinstall = true
		e.log.Warn("a pinned endpoint's new flow missed its pin: the kernel lacks pins; reinstalling")
	}
	if ch.Strays > 0 && !e.reinstall {
		e.reinstall = true
		e.log.Warn("unreplied flows (a flood?) over their budget: dropping the pins the kernel learned for them",
			"flows", ch.Strays)
	}
	ch.settle(e.cfg.Planner.KernelPins)
	e.unlearn(ch.Unlearn)
	if len(ch.Add) == 0 && len(ch.Delete) == 0 && len(ch.Kill) == 0 {
		return true
	}
	if err := e.cfg.Backend.Update(ch.Add, ch.Delete); err != nil {
		if e.cfg.Planner.KernelPins && errors.Is(err, syscall.EEXIST) {
			// Not a fault: the kernel learned a pin the planner refused (a
			// flood's, whose events were lost) on a port it then chose.
			if !e.reinstall {
				e.log.Info("the kernel had learned a pin the agent does not hold; putting every pin back")
			}
			e.reinstall = true
			return false
		}
		e.fail("update pins", err)
		e.reinstall = true
		return false
	}
	if e.cfg.Kill != nil {
		for _, f := range ch.Kill {
			e.kill(f)
		}
		e.killMisses(ch.Add)
	}
	return true
}

// unlearn deletes pins the kernel may have learned by itself: together
// when all are there, else one by one, each missing one ignored.
func (e *Enforcer) unlearn(pins []Pin) {
	if len(pins) == 0 || e.cfg.Backend.Update(nil, pins) == nil {
		return
	}
	for _, p := range pins {
		_ = e.cfg.Backend.Update(nil, []Pin{p}) // missing: the kernel never learned it
	}
}

func (e *Enforcer) fail(what string, err error) {
	e.lastErr, e.lastErrAt = what+": "+err.Error(), e.cfg.Now()
	e.failures++
	e.log.Warn(what, "err", err)
}

// Run checks the rules every Watch and sweeps idle pins every second until
// ctx is done. The rules stay in the kernel when it returns: a restarted
// agent adopts them; Cleanup removes them.
func (e *Enforcer) Run(ctx context.Context) {
	if e.cfg.Backend == nil {
		return
	}
	watch, sweep, reconcile := time.NewTicker(e.cfg.Watch), time.NewTicker(sweepEvery), time.NewTicker(reconcileEvery)
	defer watch.Stop()
	defer sweep.Stop()
	defer reconcile.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-watch.C:
			e.check()
		case <-sweep.C:
			e.sweep()
		case <-reconcile.C:
			e.reconcile()
		}
	}
}

// reconcile adopts pins in the kernel the planner does not know (the
// sweep then removes them once idle), and deletes those of addresses the
// router no longer has. The lock is held across the read, so that no
// sweep or Retain removes a pin between the read and the adoption.
func (e *Enforcer) reconcile() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropStrays(e.cfg.Public)
}

// check puts the rules back when they are gone or an update failed.
func (e *Enforcer) check() {
	ok, err := e.cfg.Backend.Installed()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.fail("check rules", err)
		return
	}
	e.installed = ok
	if ok && !e.reinstall {
		return
	}
	if !ok {
		// A flood may hold the kernel back from a listing: missing rules
		// stay missing, so they are asked for once more.
		if again, err := e.cfg.Backend.Installed(); err == nil && again {
			e.installed = true
			if !e.reinstall {
				return
			}
		} else {
			e.missing = true
		}
	}
	start := time.Now()
	pins := e.planner.Pins()
	if err := e.cfg.Backend.Install(pins); err != nil {
		e.fail("reinstall rules", err)
		e.reinstall = true // a partial install looks complete: try again
		return
	}
	e.installed, e.reinstall = true, false // lastErr stays: the report shows it while recent
	took := time.Since(start).Round(time.Microsecond)
	if !e.missing {
		// The rules were there: an update failed, or the kernel lacked a
		// pin. No firewall reload.
		e.putBack++
		e.log.Warn("pins put back (the rules were in place)", "pins", len(pins), "took", took)
		return
	}
	e.reinstalls, e.missing = e.reinstalls+1, false
	e.lookAtRouterNAT() // a firewall restart may have changed it
	e.log.Warn("rules were missing (a firewall reload or flush?); put back", "pins", len(pins), "took", took)
}

func (e *Enforcer) sweep() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	e.misses.forget(now)
	e.apply(e.planner.Sweep(now, e.cfg.Table))
}

// Pins returns the pins held, sorted.
func (e *Enforcer) Pins() []Pin {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.planner.Pins()
}
