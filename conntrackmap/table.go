package conntrackmap

import (
	"sort"
	"sync"
	"time"
)

// DefaultEvidence is how many recent violations of each kind a Table keeps
// when Config.Evidence is zero.
const DefaultEvidence = 16

// Config configures a Table. The zero value is ready to use.
type Config struct {
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// Evidence is how many recent violations of each kind to keep. If zero,
	// DefaultEvidence.
	Evidence int
}

// Table is the NAT's mapping table as the flows show it. Its zero value is
// not usable: make one with New. A Table is safe for concurrent use.
type Table struct {
	mu    sync.Mutex
	now   func() time.Time
	epoch time.Time

	v4       *shard[[4]byte]
	v6       *shard[[16]byte]
	seen     [2]ProtoSummary // Seen* counters, by protoIndex
	unpaired uint64          // flows that gave a host a second public address
	ignored  uint64          // flows the table does not model
	evidence map[Kind]*ring[Violation]
	hairpins map[hairpinKey]hairpinVal // live hairpinned flows
	hairpin  HairpinSummary            // the Seen hairpin counters
	ended    *ring[HairpinFlow]        // recently ended hairpinned flows
	gen      uint8                     // the current resync generation
}

// New returns an empty Table.
func New(cfg Config) *Table {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Evidence <= 0 {
		cfg.Evidence = DefaultEvidence
	}
	t := &Table{
		now:      cfg.Now,
		epoch:    cfg.Now(),
		v4:       newShard[[4]byte](),
		v6:       newShard[[16]byte](),
		evidence: make(map[Kind]*ring[Violation]),
		hairpins: make(map[hairpinKey]hairpinVal),
		ended:    newRing[HairpinFlow](cfg.Evidence),
	}
	for _, k := range []Kind{KindMapping, KindOverloading, KindPooling} {
		t.evidence[k] = newRing[Violation](cfg.Evidence)
	}
	return t
}

func protoIndex(p Proto) int {
	if p == TCP {
		return 1
	}
	return 0
}

// Apply applies one event. New and Update add the flow if the table does
// not hold it yet; Destroy removes it. Flows that are neither source-NATed
// nor hairpinned UDP or TCP are counted as ignored. A hairpinned flow
// (Flow.Hairpin) is kept apart, and with a public source modelled as a
// mapping too; an Update or New of one the table holds can add its reply
// (Flow.Replied). Apply is idempotent per flow.
func (t *Table) Apply(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apply(ev)
}

// ApplyAll applies events in order under one lock.
func (t *Table) ApplyAll(evs []Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		t.apply(ev)
	}
}

func (t *Table) apply(ev Event) {
	f := ev.Flow
	mapped := f.SourceNATed() && f.Hairpin != HairpinPrivate
	if !f.valid() || !f.sameFamily() || (!mapped && f.Hairpin == NotHairpin) {
		t.ignored++
		return
	}
	switch ev.Type {
	case EventNew, EventUpdate:
		if mapped {
			t.add(f) // first: a hairpinned flow's source is judged against the sender's mapping
		}
		if f.Hairpin != NotHairpin {
			t.addHairpin(f)
		}
	case EventDestroy:
		t.remove(f)
		t.endHairpin(f)
	default:
		t.ignored++
	}
}

// Replace makes the table hold exactly the given flows, as after a fresh
// dump of the kernel's table. Flows the table held already are kept as
// they are; only flows new to it are counted and can add evidence, so a
// resync never counts a violation twice.
func (t *Table) Replace(flows []Flow) {
	t.ReplaceFunc(func(add func(Flow)) error {
		for _, f := range flows {
			add(f)
		}
		return nil
	})
}

// ReplaceFunc is Replace for flows that arrive one by one, as a dump
// streams them: fill calls add for each flow, and no copy of the whole set
// is ever held. The table is locked per flow, not for the whole dump, so
// readers never wait long; meanwhile they see the new flows and the old
// ones not yet swept. Flows the dump did not show are removed when fill
// returns nil; on an error they stay, and ReplaceFunc returns the error.
// ReplaceFunc must not run concurrently with Apply.
func (t *Table) ReplaceFunc(fill func(add func(Flow)) error) error {
	t.mu.Lock()
	t.gen++
	t.mu.Unlock()
	if err := fill(func(f Flow) { t.Apply(Event{Type: EventNew, Flow: f}) }); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.v4.sweep(t.gen)
	t.v6.sweep(t.gen)
	t.sweepHairpins()
	return nil
}

func (t *Table) add(f Flow) {
	var o outcome
	if f.Private().Addr().Is4() {
		o = t.v4.add(f, t.clock(), t.gen)
	} else {
		o = t.v6.add(f, t.clock(), t.gen)
	}
	if !o.added {
		return
	}
	seen := &t.seen[protoIndex(f.Proto)]
	if o.reused {
		seen.SeenReused++
	}
	for _, k := range []Kind{KindMapping, KindOverloading, KindPooling} {
		if u, ok := o.clash[k]; ok {
			t.count(t.record(k, f, u), seen)
		}
	}
}

func (t *Table) remove(f Flow) {
	if f.Private().Addr().Is4() {
		t.v4.remove(f)
	} else {
		t.v6.remove(f)
	}
}

// count adds a violation to the Seen counters.
func (t *Table) count(v Violation, seen *ProtoSummary) {
	switch v.Kind {
	case KindMapping:
		seen.SeenInconsistent++
		if v.PortDependent() {
			seen.SeenPortDependent++
		}
		if v.Preserving() {
			seen.SeenPreservationBroke++
		}
	case KindOverloading:
		seen.SeenOverloaded++
	case KindPooling:
		t.unpaired++
	}
}

// record keeps the evidence that f's use clashes with the older use a.
func (t *Table) record(k Kind, f Flow, a Use) Violation {
	v := Violation{Kind: k, Proto: f.Proto, At: t.now(), A: a,
		B: Use{Private: f.Private(), Public: f.Public(), Remote: f.Remote()}}
	t.evidence[k].push(v)
	return v
}

// clock returns seconds since the table's epoch.
func (t *Table) clock() uint32 {
	d := t.now().Sub(t.epoch)
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

// Len returns the number of live flows in the table.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.v4.flows) + len(t.v6.flows)
}

// Flows returns the live flows, sorted, for comparison with the kernel's
// table. Reply.Src is taken to be the remote endpoint. It allocates: it is
// meant for tests and diagnostics.
func (t *Table) Flows() []Flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Flow, 0, len(t.v4.flows)+len(t.v6.flows))
	out = appendFlows(out, t.v4)
	out = appendFlows(out, t.v6)
	sort.Slice(out, func(i, j int) bool { return lessFlow(out[i], out[j]) })
	return out
}

func appendFlows[A addr](out []Flow, s *shard[A]) []Flow {
	for fk, v := range s.flows {
		out = append(out, Flow{Proto: fk.proto,
			Orig:  Tuple{Src: fk.priv.addrPort(), Dst: fk.remote.addrPort()},
			Reply: Tuple{Src: fk.remote.addrPort(), Dst: v.pub.addrPort()}, Replied: v.replied})
	}
	return out
}

func lessFlow(a, b Flow) bool {
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	if c := a.Orig.Src.Compare(b.Orig.Src); c != 0 {
		return c < 0
	}
	return a.Orig.Dst.Compare(b.Orig.Dst) < 0
}
