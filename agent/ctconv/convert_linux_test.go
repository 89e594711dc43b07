package ctconv

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ti-mo/conntrack"

	"github.com/natp2p/natp2p/conntrackmap"
)

var ip = netip.MustParseAddr

// natted is a kernel flow 198.51.100.10:4000 -> 203.0.113.10:3478 NATed to pub:29352.
func natted(proto uint8, pub netip.Addr, status conntrack.Status) conntrack.Flow {
	f := conntrack.NewFlow(proto, status, ip("198.51.100.10"), ip("203.0.113.10"), 4000, 3478, 30, 0)
	f.TupleReply.IP.DestinationAddress = pub
	f.TupleReply.Proto.DestinationPort = 29352
	return f
}

func TestFilterFlow(t *testing.T) {
	wan := Filter{Public: func(a netip.Addr) bool { return a == ip("203.0.113.1") }}
	tests := []struct {
		name string
		f    Filter
		in   conntrack.Flow
		ok   bool
	}{
		{"source-NATed udp", wan, natted(17, ip("203.0.113.1"), conntrack.StatusSrcNAT|conntrack.StatusConfirmed), true},
		{"source-NATed tcp, no WAN filter", Filter{}, natted(6, ip("203.0.113.9"), conntrack.StatusSrcNAT), true},
		{"not NATed", wan, natted(17, ip("203.0.113.1"), conntrack.StatusConfirmed), false},
		{"NATed to a non-WAN address", wan, natted(17, ip("203.0.113.9"), conntrack.StatusSrcNAT), false},
		{"icmp", wan, natted(1, ip("203.0.113.1"), conntrack.StatusSrcNAT), false},
		{"the router's own, from its WAN address", Filter{Public: func(a netip.Addr) bool { return a == ip("198.51.100.10") || a == ip("203.0.113.1") }},
			natted(17, ip("203.0.113.1"), conntrack.StatusSrcNAT), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.f.Flow(&tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			want := conntrackmap.Flow{Proto: conntrackmap.Proto(tt.in.TupleOrig.Proto.Protocol),
				Orig:  conntrackmap.Tuple{Src: netip.MustParseAddrPort("198.51.100.10:4000"), Dst: netip.MustParseAddrPort("203.0.113.10:3478")},
				Reply: conntrackmap.Tuple{Src: netip.MustParseAddrPort("203.0.113.10:3478"), Dst: netip.AddrPortFrom(tt.in.TupleReply.IP.DestinationAddress, 29352)}}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
				t.Errorf("Flow (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterEvent(t *testing.T) {
	f := natted(17, ip("203.0.113.1"), conntrack.StatusSrcNAT)
	r := natted(17, ip("203.0.113.1"), conntrack.StatusSrcNAT|conntrack.StatusSeenReply)
	evs := []conntrack.Event{{Type: conntrack.EventNew, Flow: &f}, {Type: conntrack.EventUpdate, Flow: &r},
		{Type: conntrack.EventDestroy, Flow: &f}}
	want := []conntrackmap.EventType{conntrackmap.EventNew, conntrackmap.EventUpdate, conntrackmap.EventDestroy}
	for i := range evs {
		got, ok := Filter{}.Event(&evs[i])
		if !ok || got.Type != want[i] {
			t.Errorf("event %v: got %v, %v; want %v", evs[i].Type, got.Type, ok, want[i])
		}
	}
	for _, ev := range []conntrack.Event{{Type: conntrack.EventExpNew}, {Type: conntrack.EventNew}} {
		if _, ok := (Filter{}).Event(&ev); ok {
			t.Errorf("event %v without a flow converted", ev.Type)
		}
	}
	// An update matters only once the flow saw a reply.
	if got, ok := (Filter{}).Event(&conntrack.Event{Type: conntrack.EventUpdate, Flow: &f}); ok {
		t.Errorf("update of an unreplied flow converted: %v", got)
	}
	if got, _ := (Filter{}).Event(&evs[1]); !got.Flow.Replied {
		t.Errorf("update of a replied flow: %+v, want Replied", got.Flow)
	}
}

func TestDestroyIgnoresTheWANFilter(t *testing.T) {
	f := natted(17, ip("203.0.113.9"), conntrack.StatusSrcNAT) // NATed to an address the WAN no longer has
	wan := Filter{Public: func(a netip.Addr) bool { return a == ip("203.0.113.1") }}
	if _, ok := wan.Event(&conntrack.Event{Type: conntrack.EventNew, Flow: &f}); ok {
		t.Error("a new flow on a non-WAN address was kept")
	}
	if ev, ok := wan.Event(&conntrack.Event{Type: conntrack.EventDestroy, Flow: &f}); !ok || ev.Type != conntrackmap.EventDestroy {
		t.Errorf("the destroy of a flow on an old WAN address was dropped: %v, %v", ev.Type, ok)
	}
}

// hairpinned is a kernel flow 198.51.100.10:5000 -> 203.0.113.1:61854,
// sent on to 198.51.100.11:6000, which sees source.
func hairpinned(source netip.AddrPort, status conntrack.Status) conntrack.Flow {
	f := conntrack.NewFlow(17, status|conntrack.StatusDstNAT, ip("198.51.100.10"), ip("203.0.113.1"), 5000, 61854, 30, 0)
	f.TupleReply.IP.SourceAddress, f.TupleReply.Proto.SourcePort = ip("198.51.100.11"), 6000
	f.TupleReply.IP.DestinationAddress, f.TupleReply.Proto.DestinationPort = source.Addr(), source.Port()
	return f
}

func TestFilterHairpin(t *testing.T) {
	lan := func(a netip.Addr) bool { return netip.MustParsePrefix("198.51.100.0/24").Contains(a) }
	wan := func(a netip.Addr) bool { return a == ip("203.0.113.1") }
	pubA, privA := netip.MustParseAddrPort("203.0.113.1:7482"), netip.MustParseAddrPort("198.51.100.10:5000")
	fromWAN := hairpinned(netip.MustParseAddrPort("192.0.2.50:5000"), 0) // a port forward's inbound flow
	fromWAN.TupleOrig.IP.SourceAddress = ip("192.0.2.50")
	tests := []struct {
		name    string
		f       Filter
		in      conntrack.Flow
		want    conntrackmap.HairpinSource
		replied bool
		ok      bool
	}{
		{"translated to a WAN address, answered", Filter{Public: wan, LAN: lan},
			hairpinned(pubA, conntrack.StatusSrcNAT|conntrack.StatusSeenReply), conntrackmap.HairpinPublic, true, true},
		{"not translated: the sender's private source", Filter{Public: wan, LAN: lan},
			hairpinned(privA, 0), conntrackmap.HairpinPrivate, false, true},
		{"translated to the router's LAN address", Filter{Public: wan, LAN: lan},
			hairpinned(netip.MustParseAddrPort("198.51.100.1:5000"), conntrack.StatusSrcNAT), conntrackmap.HairpinPrivate, false, true},
		{"a port forward from the internet", Filter{Public: wan, LAN: lan}, fromWAN, conntrackmap.NotHairpin, false, false},
		{"no LAN networks known", Filter{Public: wan}, hairpinned(privA, 0), conntrackmap.NotHairpin, false, false},
		{"a destroy (no WAN filter), untranslated", Filter{LAN: lan}, hairpinned(privA, 0), conntrackmap.HairpinPrivate, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.f.Flow(&tt.in)
			if ok != tt.ok || got.Hairpin != tt.want || got.Replied != tt.replied {
				t.Errorf("Flow = %v (hairpin %d, replied %v), %v; want hairpin %d, replied %v, %v",
					got, got.Hairpin, got.Replied, ok, tt.want, tt.replied, tt.ok)
			}
		})
	}
}
