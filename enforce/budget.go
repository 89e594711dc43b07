package enforce

import (
	"net/netip"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
)

// Budgets a LAN host cannot spend for others. A LAN host can forge the
// source address of its packets; a forged source never answers, so the
// flows of its pins never see a reply. Pins are therefore trusted once a
// flow of theirs was replied to, and the others are the first to go.
const (
	// DefaultUnrepliedMax bounds the pins of all hosts whose flows never
	// saw a reply: a new one beyond it takes the oldest one's place.
	DefaultUnrepliedMax = 4096
	// DefaultUnrepliedLife is how long a pin whose flows never saw a reply
	// lives, even while its flows do.
	DefaultUnrepliedLife = 30 * time.Second
	// DefaultReserve is how many ports of each public address (per
	// protocol) are kept for hosts holding fewer than ReserveShare pins:
	// when the pins leave fewer free, the port range runs low (pressure).
	DefaultReserve = 4096
	// ReserveShare: a host holding fewer pins than this may still take one
	// of the reserved ports.
	ReserveShare = 64
)

// portSpan is how many ports a public address has for pins.
const portSpan = portMax - portMin + 1

// refusal says why a new pin was refused.
type refusal uint8

const (
	admitted   refusal = iota
	byQuota            // its host holds its quota of trusted pins
	byPressure         // the port range runs low and its host holds its share
	byBudget           // a dump's unreplied flow, with the unreplied pins' budget spent
)

// addrKey is a public address of one protocol: the pins on it share its
// ports.
type addrKey struct {
	proto conntrackmap.Proto
	addr  netip.Addr
}

// queued is an unreplied pin in the order pins were made; seq tells it
// from a later pin of the same endpoint.
type queued struct {
	k   endpointKey
	seq uint64
}

// admit makes room for pin, a new pin of its host, by evicting unreplied
// pins when a budget is spent, or says why it cannot have one. Only a
// fresh or replied flow evicts: a dump's unreplied flows (a flood's,
// whose events were lost) would only evict one another.
func (p *Planner) admit(pin Pin, replied, fresh bool, ch *Changes) refusal {
	h := pin.Private.Addr()
	mayEvict := fresh || replied
	if p.cfg.Quota > 0 && p.hosts[h] >= p.cfg.Quota && (!mayEvict || !p.evict(h, ch)) {
		return byQuota
	}
	if !replied && p.cfg.UnrepliedMax > 0 && p.unreplied >= p.cfg.UnrepliedMax {
		if !fresh {
			return byBudget
		}
		for p.unreplied >= p.cfg.UnrepliedMax && p.evict(netip.Addr{}, ch) {
		}
	}
	full := len(p.pins) >= p.cfg.MaxPins
	low := p.addrs[addrKey{pin.Proto, pin.Public.Addr()}] >= portSpan-p.cfg.Reserve
	if (full || low) && (!mayEvict || !p.evict(netip.Addr{}, ch)) && (full || p.hosts[h] >= ReserveShare) {
		return byPressure
	}
	return admitted
}

// evict removes the oldest unreplied pin, of host h if valid, else of
// any host, and reports whether there was one.
func (p *Planner) evict(h netip.Addr, ch *Changes) bool {
	if (h.IsValid() && p.hostUnreplied[h] == 0) || p.unreplied == 0 {
		return false
	}
	for i, q := range p.queue {
		st, ok := p.pins[q.k]
		if !ok || st.replied || st.seq != q.seq {
			continue
		}
		if h.IsValid() && q.k.ep.Addr() != h {
			continue
		}
		if !h.IsValid() {
			p.queue = p.queue[i+1:] // every entry before i is stale
		}
		p.remove(q.k, st, ch)
		p.stats.Evicted++
		return true
	}
	return false
}

// enqueue notes a new unreplied pin.
func (p *Planner) enqueue(k endpointKey, st *pinState) {
	p.seq++
	st.seq = p.seq
	p.queue = append(p.queue, queued{k, st.seq})
	p.unreplied++
	p.hostUnreplied[k.ep.Addr()]++
	if len(p.queue) > 2*p.unreplied+1024 {
		p.compact()
	}
}

// compact drops the queue's entries of pins since replied or removed.
func (p *Planner) compact() {
	kept := make([]queued, 0, 2*p.unreplied)
	for _, q := range p.queue {
		if st, ok := p.pins[q.k]; ok && !st.replied && st.seq == q.seq {
			kept = append(kept, q)
		}
	}
	p.queue = kept
}

// replied marks a pin whose flow saw a reply: it is trusted from now on.
func (p *Planner) replied(k endpointKey, st *pinState) {
	if st.replied {
		return
	}
	st.replied = true
	p.dropUnreplied(k.ep.Addr())
}

func (p *Planner) dropUnreplied(h netip.Addr) {
	p.unreplied--
	if p.hostUnreplied[h]--; p.hostUnreplied[h] <= 0 {
		delete(p.hostUnreplied, h)
	}
}

// refuse counts a fresh flow left without a pin, and why.
func (p *Planner) refuse(why refusal, fresh bool) {
	if !fresh {
		return // a dumped or replied flow was counted when it was new
	}
	switch why {
	case byQuota:
		p.stats.QuotaHits++
	case byPressure:
		p.stats.PressureHits++
	}
}

// expired reports whether an unreplied pin has lived its life, noting
// when the sweep first saw it.
func (p *Planner) expired(st *pinState, now time.Time) bool {
	if st.replied {
		return false
	}
	if st.unrepliedSince.IsZero() {
		st.unrepliedSince = now
		return false
	}
	return now.Sub(st.unrepliedSince) >= p.cfg.UnrepliedLife
}

// withBudgets fills in the budgets' defaults.
func withBudgets(cfg PlannerConfig) PlannerConfig {
	if cfg.UnrepliedMax == 0 {
		cfg.UnrepliedMax = DefaultUnrepliedMax
	}
	if cfg.UnrepliedLife <= 0 {
		cfg.UnrepliedLife = DefaultUnrepliedLife
	}
	if cfg.Reserve <= 0 || cfg.Reserve > portSpan {
		cfg.Reserve = DefaultReserve
	}
	return cfg
}

// settle drops the pins both added and deleted in one batch (evicted
// right after they were made): the kernel never gets them, but it may
// have learned them itself (kernelPins), so those are unlearned. (A pin
// evicted and made again in one batch, rarer still, is then missing from
// the kernel: its endpoint's next flow shows it, and the pins are put
// back.)
func (ch *Changes) settle(kernelPins bool) {
	if len(ch.Add) == 0 || len(ch.Delete) == 0 {
		return
	}
	gone := make(map[Pin]bool, len(ch.Delete))
	for _, d := range ch.Delete {
		gone[d] = true
	}
	add := ch.Add[:0]
	for _, a := range ch.Add {
		if !gone[a] {
			add = append(add, a)
			continue
		}
		delete(gone, a)
		if kernelPins {
			ch.Unlearn = append(ch.Unlearn, a)
		}
	}
	del := ch.Delete[:0]
	for _, d := range ch.Delete {
		if gone[d] {
			del = append(del, d)
		}
	}
	ch.Add, ch.Delete = add, del
}
