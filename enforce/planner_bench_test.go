package enforce

import (
	"net/netip"
	"testing"

	"github.com/natp2p/natp2p/conntrackmap"
)

// BenchmarkObserve measures the planner's share of an event in enforce
// mode: replied flows of 4,096 endpoints already pinned (what most events
// are), against the live table as the View.
func BenchmarkObserve(b *testing.B) {
	table := conntrackmap.New(conntrackmap.Config{})
	p := NewPlanner(PlannerConfig{Quota: -1})
	flows := make([]conntrackmap.Flow, 4096)
	for i := range flows {
		host := netip.AddrFrom4([4]byte{192, 168, 1, byte(1 + i%250)})
		priv := netip.AddrPortFrom(host, uint16(20000+i))
		remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 3478)
		public := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 1}), uint16(20000+i))
		f := conntrackmap.Flow{Proto: conntrackmap.UDP, Replied: true,
			Orig: conntrackmap.Tuple{Src: priv, Dst: remote}, Reply: conntrackmap.Tuple{Src: remote, Dst: public}}
		table.Apply(conntrackmap.Event{Type: conntrackmap.EventNew, Flow: f})
		var ch Changes
		p.Observe(f, true, table, &ch)
		if len(ch.Add) != 1 {
			b.Fatalf("flow %d: %d pins added, want 1", i, len(ch.Add))
		}
		flows[i] = f
	}
	var ch Changes
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Observe(flows[i%len(flows)], false, table, &ch)
	}
	if len(ch.Add)+len(ch.Delete)+len(ch.Kill) != 0 {
		b.Fatalf("pinned flows changed pins: %+v", ch)
	}
}
