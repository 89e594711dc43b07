//go:build linux

package ctconv

import (
	"net/netip"

	"github.com/ti-mo/conntrack"

	"github.com/natp2p/natp2p/conntrackmap"
)

// Flow converts a conntrack entry (CTA_TUPLE_ORIG, CTA_TUPLE_REPLY,
// CTA_STATUS, whose IPS_SEEN_REPLY is the flow's Replied) into the table's
// flow. It reports false for flows the table does not model: not UDP or
// TCP, neither hairpinned (see hairpin) nor source-NATed (IPS_SRC_NAT),
// NATed to a non-WAN address, or sent from a WAN address (the router's own).
func (f Filter) Flow(cf *conntrack.Flow) (conntrackmap.Flow, bool) {
	p := conntrackmap.Proto(cf.TupleOrig.Proto.Protocol)
	if p != conntrackmap.UDP && p != conntrackmap.TCP {
		return conntrackmap.Flow{}, false
	}
	fl := conntrackmap.Flow{Proto: p, Orig: tuple(cf.TupleOrig), Reply: tuple(cf.TupleReply), Replied: cf.Status.SeenReply()}
	if fl.Hairpin = f.hairpin(cf, fl); fl.Hairpin != conntrackmap.NotHairpin {
		return fl, true
	}
	if !cf.Status.SrcNAT() {
		return conntrackmap.Flow{}, false
	}
	// The router's own traffic from its WAN address (its probes among it)
	// is no LAN host's mapping, even when a rule rewrites its port.
	if f.Public != nil && (!f.Public(fl.Public().Addr()) || f.Public(fl.Private().Addr())) {
		return conntrackmap.Flow{}, false
	}
	return fl, true
}

// hairpin tells a hairpinned flow: destination-NATed (IPS_DST_NAT) from a
// LAN host to a public (WAN) address, sent on to a LAN host; its kind is
// the source the receiver sees, a WAN address (HairpinPublic) or not. A
// destroy event's filter has no Public: its flow is taken by the LAN
// addresses alone, so that it leaves the table whatever the WAN has now.
func (f Filter) hairpin(cf *conntrack.Flow, fl conntrackmap.Flow) conntrackmap.HairpinSource {
	switch {
	case f.LAN == nil || !cf.Status.DstNAT() || !f.LAN(fl.Private().Addr()) || !f.LAN(fl.Reply.Src.Addr()):
		return conntrackmap.NotHairpin
	case f.Public != nil && !f.Public(fl.Remote().Addr()):
		return conntrackmap.NotHairpin
	case cf.Status.SrcNAT() && (f.Public == nil || f.Public(fl.Public().Addr())):
		return conntrackmap.HairpinPublic
	}
	return conntrackmap.HairpinPrivate
}

// checkMissed passes a hairpin attempt that no NAT touched to f.Missed.
func (f Filter) checkMissed(cf *conntrack.Flow) {
	p := conntrackmap.Proto(cf.TupleOrig.Proto.Protocol)
	if (p != conntrackmap.UDP && p != conntrackmap.TCP) || cf.Status.SrcNAT() || cf.Status.DstNAT() || f.Public == nil {
		return
	}
	fl := conntrackmap.Flow{Proto: p, Orig: tuple(cf.TupleOrig), Reply: tuple(cf.TupleReply)}
	if f.Public(fl.Remote().Addr()) && !f.Public(fl.Private().Addr()) {
		f.Missed(fl)
	}
}

func tuple(t conntrack.Tuple) conntrackmap.Tuple {
	return conntrackmap.Tuple{
		Src: netip.AddrPortFrom(t.IP.SourceAddress.Unmap(), t.Proto.SourcePort),
		Dst: netip.AddrPortFrom(t.IP.DestinationAddress.Unmap(), t.Proto.DestinationPort),
	}
}

// Flows converts a dump, keeping the flows the table models.
func (f Filter) Flows(cfs []conntrack.Flow) []conntrackmap.Flow {
	out := make([]conntrackmap.Flow, 0, len(cfs))
	for i := range cfs {
		if fl, ok := f.Flow(&cfs[i]); ok {
			out = append(out, fl)
		}
	}
	return out
}

// Event converts a conntrack event; ok is false for events the table does
// not model (expectations, filtered flows).
func (f Filter) Event(ev *conntrack.Event) (conntrackmap.Event, bool) {
	var t conntrackmap.EventType
	switch ev.Type {
	case conntrack.EventNew:
		t = conntrackmap.EventNew
	case conntrack.EventUpdate:
		if ev.Flow == nil || !ev.Flow.Status.SeenReply() {
			return conntrackmap.Event{}, false // only a reply's news matters
		}
		t = conntrackmap.EventUpdate
	case conntrack.EventDestroy:
		t = conntrackmap.EventDestroy
	default:
		return conntrackmap.Event{}, false
	}
	if ev.Flow == nil {
		return conntrackmap.Event{}, false
	}
	if t == conntrackmap.EventNew && f.Missed != nil {
		f.checkMissed(ev.Flow)
	}
	if t == conntrackmap.EventDestroy {
		// A flow NATed to an address the WAN has since lost must still
		// leave the table; removing a flow the table lacks is a no-op.
		f.Public = nil
	}
	fl, ok := f.Flow(ev.Flow)
	return conntrackmap.Event{Type: t, Flow: fl}, ok
}

// Batch converts ev, then the events already queued on events, appending
// those the table models to batch until it holds limit.
func (f Filter) Batch(batch []conntrackmap.Event, ev *conntrack.Event, events <-chan conntrack.Event, limit int) []conntrackmap.Event {
	if e, ok := f.Event(ev); ok {
		batch = append(batch, e)
	}
	for len(batch) < limit {
		select {
		case ev := <-events:
			if e, ok := f.Event(&ev); ok {
				batch = append(batch, e)
			}
		default:
			return batch
		}
	}
	return batch
}
