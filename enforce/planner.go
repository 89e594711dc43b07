package enforce

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
)

// Defaults of PlannerConfig.
const (
	// DefaultGrace is how long a pin outlives its endpoint's last flow: a
	// host that pauses between sessions comes back to the same port.
	DefaultGrace = 30 * time.Second
	// DefaultQuota is how many pins one LAN host may hold (RFC 6888
	// REQ-4 style), so that one host cannot take every public port.
	DefaultQuota = 2048
	// DefaultMaxPins bounds the pins of all hosts together, below the
	// nftables maps' size (nftMapSize), so that the kernel never refuses
	// an element the planner counts on.
	DefaultMaxPins = 100000
)

// Ports a moved endpoint may be given: the unprivileged range, as RFC 4787
// REQ-5a wants dynamic mappings kept out of the well-known ports.
const (
	portMin   = 1024
	portMax   = 65535
	portTries = 256
)

// View is what the Planner asks of the live flows: conntrackmap.Table.
type View interface {
	PublicOf(p conntrackmap.Proto, private netip.AddrPort) (netip.AddrPort, bool)
	PublicUsed(p conntrackmap.Proto, public netip.AddrPort) bool
	PublicShared(p conntrackmap.Proto, public, private netip.AddrPort) bool
}

// PlannerConfig configures a Planner. The zero value uses the defaults.
type PlannerConfig struct {
	Grace   time.Duration // if zero, DefaultGrace
	Quota   int           // pins per LAN host; if zero, DefaultQuota; negative: no limit
	MaxPins int           // pins of all hosts; if zero, DefaultMaxPins
	// Intn returns a random int in [0, n), to pick free ports. If nil,
	// math/rand/v2.
	Intn func(n int) int
	// KernelPins says the backend pins a new endpoint by itself, from the
	// packet path (NFT's learn chain): a pin over the quota must then be
	// taken out again.
	KernelPins bool
	// HairpinOnly keeps pins for hairpinning only (mapping enforcement
	// off): the router's NAT keeps choosing ports, so a flow off its pin is
	// no fault, and no endpoint is moved.
	HairpinOnly bool
	// UnrepliedMax bounds the pins whose flows never saw a reply (if zero,
	// DefaultUnrepliedMax; negative: no bound), UnrepliedLife is how long
	// one lives (if zero, DefaultUnrepliedLife) and Reserve the ports of a
	// public address kept for hosts with few pins (if zero,
	// DefaultReserve). See budget.go.
	UnrepliedMax  int
	UnrepliedLife time.Duration
	Reserve       int
}

// Changes is what the Planner decided: pins to put in the kernel, pins to
// take out, and flows to delete from conntrack so that their next packet
// is translated again, through the pins.
type Changes struct {
	Add, Delete []Pin
	// Unlearn are pins the kernel may have learned by itself (KernelPins)
	// and that must go before Add: deleted one by one, a missing one is
	// no error.
	Unlearn []Pin
	Kill    []conntrackmap.Flow
	// Reinstall says the kernel disagrees with the planner: put every pin
	// back.
	Reinstall bool
	// Strays counts a dump's unreplied flows left without a pin (their
	// budget spent: a flood whose events were lost) whose pins the kernel
	// may have learned (KernelPins): putting every pin back drops them.
	Strays int
}

// Planner decides pins from flows. It is pure: it changes nothing itself,
// and it is not safe for concurrent use.
type Planner struct {
	cfg    PlannerConfig
	pins   map[endpointKey]*pinState   // private endpoint -> its pin
	public map[endpointKey]endpointKey // pinned public endpoint -> private endpoint
	hosts  map[netip.Addr]int          // private address -> pins held
	addrs  map[addrKey]int             // public address -> pins on it
	stats  status.PlannerStats

	// Pins whose flows never saw a reply, oldest first (budget.go).
	queue         []queued
	seq           uint64
	unreplied     int
	hostUnreplied map[netip.Addr]int
}

type pinState struct {
	public    netip.AddrPort
	idleSince time.Time // zero while the endpoint has live flows
	// replied: a flow of the endpoint saw a reply. Until then the pin is
	// in the queue as seq, and lives UnrepliedLife from unrepliedSince
	// (when a sweep first saw it).
	replied        bool
	seq            uint64
	unrepliedSince time.Time
}

// NewPlanner returns a Planner without pins.
func NewPlanner(cfg PlannerConfig) *Planner {
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Quota == 0 {
		cfg.Quota = DefaultQuota
	}
	if cfg.MaxPins <= 0 {
		cfg.MaxPins = DefaultMaxPins
	}
	if cfg.Intn == nil {
		cfg.Intn = rand.IntN
	}
	cfg = withBudgets(cfg)
	return &Planner{cfg: cfg, pins: make(map[endpointKey]*pinState), public: make(map[endpointKey]endpointKey),
		hosts: make(map[netip.Addr]int), addrs: make(map[addrKey]int), hostUnreplied: make(map[netip.Addr]int)}
}

// Observe takes one source-NATed flow the kernel reports. The first flow of
// a private endpoint pins the public endpoint the kernel gave it, unless
// that public endpoint is another endpoint's pin: then the endpoint is
// pinned to a free port and the flow is killed, so its next packet takes
// the new pin. fresh says the flow was just created (a NEW event): only
// fresh flows are killed; a flow found in a dump may be a long-lived
// connection, and is left alone.
func (p *Planner) Observe(f conntrackmap.Flow, fresh bool, v View, ch *Changes) {
	pin := Pin{Proto: f.Proto, Private: f.Private(), Public: f.Public()}
	if !pin.valid() {
		return
	}
	k := pin.key()
	if st, ok := p.pins[k]; ok {
		p.pinnedFlow(k, st, f, fresh, ch)
		return
	}
	if why := p.admit(pin, f.Replied, fresh, ch); why != admitted {
		p.refuse(why, fresh)
		if why == byBudget && p.cfg.KernelPins {
			ch.Strays++
		}
		if _, taken := p.public[pin.publicKey()]; !taken {
			p.unlearn(pin, fresh, ch)
		}
		return
	}
	// The public endpoint is another's pin, or another endpoint's live
	// flow uses it (overloading, by a flow from before the agent or over a
	// quota): pinned there, this endpoint's flow to the other's destination
	// could not be translated. Move it to a free port.
	owner, taken := p.public[pin.publicKey()]
	taken = taken && owner != k
	moved := taken || v.PublicShared(pin.Proto, pin.Public, pin.Private)
	if moved && p.cfg.HairpinOnly {
		return // another's public endpoint: no hairpin to this one
	}
	if moved {
		port, ok := p.freePort(pin.Proto, pin.Public.Addr(), v)
		if !ok {
			p.stats.NoPort++
			if !taken {
				p.unlearn(pin, fresh, ch) // no pin the planner does not hold stays in the kernel
			}
			return
		}
		if !taken {
			p.unlearn(pin, fresh, ch) // the kernel pinned it where it stands
		}
		pin.Public = netip.AddrPortFrom(pin.Public.Addr(), port)
	}
	p.add(pin, f.Replied)
	p.stats.Pinned++
	ch.Add = append(ch.Add, pin)
	if moved {
		p.stats.Moved++
		if fresh {
			ch.Kill = append(ch.Kill, f)
		}
	}
}

// pinnedFlow takes a flow of an endpoint pinned already.
func (p *Planner) pinnedFlow(k endpointKey, st *pinState, f conntrackmap.Flow, fresh bool, ch *Changes) {
	st.idleSince = time.Time{}
	if f.Replied {
		p.replied(k, st)
	}
	if st.public != f.Public() && fresh && !p.cfg.HairpinOnly {
		// Created in the instant before the pin was in the kernel; a
		// backend that pins in the kernel has no such instant, so its
		// kernel lacks the pin: have it reinstalled.
		p.stats.Repaired++
		ch.Kill = append(ch.Kill, f)
		ch.Reinstall = ch.Reinstall || p.cfg.KernelPins
	}
}

// unlearn takes out a pin the kernel may have learned by itself from a
// fresh flow's first packet (KernelPins). It may not have (a hairpinned
// flow, another claimant first in the same batch): Unlearn tolerates a
// missing pin. Flows from a dump are left alone.
func (p *Planner) unlearn(pin Pin, fresh bool, ch *Changes) {
	if !p.cfg.KernelPins || !fresh {
		return
	}
	for _, d := range ch.Unlearn {
		if d == pin {
			return
		}
	}
	ch.Unlearn = append(ch.Unlearn, pin)
}

// freePort picks a port of addr that no pin holds and no live flow uses.
func (p *Planner) freePort(proto conntrackmap.Proto, addr netip.Addr, v View) (uint16, bool) {
	for range portTries {
		port := uint16(portMin + p.cfg.Intn(portMax-portMin+1))
		ep := netip.AddrPortFrom(addr, port)
		if _, pinned := p.public[endpointKey{proto, ep}]; pinned || v.PublicUsed(proto, ep) {
			continue
		}
		return port, true
	}
	return 0, false
}

func (p *Planner) add(pin Pin, replied bool) {
	st := &pinState{public: pin.Public, replied: replied}
	p.pins[pin.key()] = st
	p.public[pin.publicKey()] = pin.key()
	p.hosts[pin.Private.Addr()]++
	p.addrs[addrKey{pin.Proto, pin.Public.Addr()}]++
	if !replied {
		p.enqueue(pin.key(), st)
	}
}

func (p *Planner) remove(k endpointKey, st *pinState, ch *Changes) {
	delete(p.pins, k)
	delete(p.public, endpointKey{k.proto, st.public})
	if p.hosts[k.ep.Addr()]--; p.hosts[k.ep.Addr()] <= 0 {
		delete(p.hosts, k.ep.Addr())
	}
	a := addrKey{k.proto, st.public.Addr()}
	if p.addrs[a]--; p.addrs[a] <= 0 {
		delete(p.addrs, a)
	}
	if !st.replied {
		p.dropUnreplied(k.ep.Addr())
	}
	p.stats.Removed++
	ch.Delete = append(ch.Delete, Pin{Proto: k.proto, Private: k.ep, Public: st.public})
}

// Adopt takes pins found in the kernel, as after a restart (live flows
// keep their public endpoints) or when the kernel learned pins whose
// events were lost. Pins held already are skipped; pins that clash with
// one held (the same private or public endpoint), whose public address is
// not the router's (public reports false), or over a quota are returned,
// to be deleted.
func (p *Planner) Adopt(pins []Pin, public func(netip.Addr) bool) (rejected []Pin) {
	for _, pin := range pins {
		if st, ok := p.pins[pin.key()]; ok && st.public == pin.Public {
			continue // held already
		}
		if public != nil && (!public(pin.Public.Addr()) || public(pin.Private.Addr())) {
			rejected = append(rejected, pin)
			continue
		}
		_, dupPrivate := p.pins[pin.key()]
		_, dupPublic := p.public[pin.publicKey()]
		overQuota := p.cfg.Quota > 0 && p.hosts[pin.Private.Addr()] >= p.cfg.Quota
		if !pin.valid() || dupPrivate || dupPublic || overQuota || len(p.pins) >= p.cfg.MaxPins {
			rejected = append(rejected, pin)
			continue
		}
		p.add(pin, false) // trusted once a flow of it is seen replied
		p.stats.Adopted++
	}
	return rejected
}

// Sweep removes the pins whose endpoint has had no live flow for the grace
// period, and counts the pinned endpoints whose live flow disagrees.
func (p *Planner) Sweep(now time.Time, v View) Changes {
	var ch Changes
	p.stats.Disagreeing = 0
	for k, st := range p.pins {
		if p.expired(st, now) {
			p.remove(k, st, &ch)
			p.stats.Unanswered++
			continue
		}
		pub, live := v.PublicOf(k.proto, k.ep)
		switch {
		case live:
			st.idleSince = time.Time{}
			if pub != st.public {
				p.stats.Disagreeing++
			}
		case st.idleSince.IsZero():
			st.idleSince = now
		case now.Sub(st.idleSince) >= p.cfg.Grace:
			p.remove(k, st, &ch)
		}
	}
	return ch
}

// Retain drops the pins whose public address is no longer one of the
// router's (a PPP reconnect or a DHCP renewal changed it).
func (p *Planner) Retain(public func(netip.Addr) bool) Changes {
	var ch Changes
	for k, st := range p.pins {
		if !public(st.public.Addr()) {
			p.remove(k, st, &ch)
		}
	}
	return ch
}

// Pinned reports whether a public endpoint is some endpoint's pin.
func (p *Planner) Pinned(proto conntrackmap.Proto, public netip.AddrPort) bool {
	_, ok := p.public[endpointKey{proto, public}]
	return ok
}

// Pins returns the pins held, sorted.
func (p *Planner) Pins() []Pin {
	out := make([]Pin, 0, len(p.pins))
	for k, st := range p.pins {
		out = append(out, Pin{Proto: k.proto, Private: k.ep, Public: st.public})
	}
	sortPins(out)
	return out
}

// Stats returns the counters.
func (p *Planner) Stats() status.PlannerStats {
	s := p.stats
	s.Pins, s.Unreplied = len(p.pins), p.unreplied
	return s
}

// QuotaFull returns the LAN hosts that hold their quota of pins whose
// flows saw replies (unreplied ones make room), sorted.
func (p *Planner) QuotaFull() []netip.Addr {
	var out []netip.Addr
	for a, n := range p.hosts {
		if p.cfg.Quota > 0 && n-p.hostUnreplied[a] >= p.cfg.Quota {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func sortPins(ps []Pin) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Proto != ps[j].Proto {
			return ps[i].Proto < ps[j].Proto
		}
		return ps[i].Private.Compare(ps[j].Private) < 0
	})
}
