package enforce

import (
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
)

// Hairpin misses are remembered this long, and this many at most.
const (
	missKeep = 10 * time.Second
	missMax  = 1024
)

// misses are LAN flows to public endpoints not pinned yet, by public
// endpoint: conntrack decided them without a DNAT, and keeps that decision
// while the flow lives, so they are killed once the pin is there. The zero
// value holds none.
type misses struct {
	byPublic map[endpointKey][]miss
	n        int
}

type miss struct {
	flow conntrackmap.Flow
	at   time.Time
}

// add remembers f, a miss at time at, unless missMax are held.
func (ms *misses) add(f conntrackmap.Flow, at time.Time) {
	if ms.n >= missMax {
		return
	}
	if ms.byPublic == nil {
		ms.byPublic = make(map[endpointKey][]miss)
	}
	k := endpointKey{f.Proto, f.Remote()}
	ms.byPublic[k] = append(ms.byPublic[k], miss{flow: f, at: at})
	ms.n++
}

// take forgets the misses to the public endpoint k and returns them.
func (ms *misses) take(k endpointKey) []miss {
	got := ms.byPublic[k]
	ms.n -= len(got)
	delete(ms.byPublic, k)
	return got
}

// forget drops misses older than missKeep.
func (ms *misses) forget(now time.Time) {
	for k, old := range ms.byPublic {
		kept := old[:0]
		for _, m := range old {
			if now.Sub(m.at) < missKeep {
				kept = append(kept, m)
			}
		}
		ms.n -= len(old) - len(kept)
		if len(kept) == 0 {
			delete(ms.byPublic, k)
		} else {
			ms.byPublic[k] = kept
		}
	}
}

// Missed takes a new flow from a LAN host to one of the router's public
// endpoints that no DNAT translated: a hairpin attempt that came before
// the pin of its destination (or in the instant before the pin reached
// the kernel). Conntrack keeps its decision for the flow's whole life, so
// the flow is killed as soon as the pin is there: its next packet is
// hairpinned.
func (e *Enforcer) Missed(f conntrackmap.Flow) {
	if e.cfg.Backend == nil || e.cfg.Kill == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.planner.Pinned(f.Proto, f.Remote()) {
		e.kill(f)
		return
	}
	e.misses.add(f, e.cfg.Now())
}

// killMisses kills the remembered misses of newly pinned public endpoints.
func (e *Enforcer) killMisses(pins []Pin) {
	if e.misses.n == 0 {
		return
	}
	for _, p := range pins {
		for _, m := range e.misses.take(p.publicKey()) {
			e.kill(m.flow)
		}
	}
}

// kill deletes f's conntrack entry; a failure is only logged (the flow may
// be gone already).
func (e *Enforcer) kill(f conntrackmap.Flow) {
	if err := e.cfg.Kill(f); err != nil {
		e.log.Debug("delete conntrack entry", "flow", f.String(), "err", err)
	}
}
