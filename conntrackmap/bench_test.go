package conntrackmap

import (
	"net/netip"
	"runtime"
	"testing"
)

// benchFlows returns n distinct NATed UDP flows. perEndpoint flows share
// each private endpoint (and its public one), as a host's sessions do; 1 is
// the worst case for memory (every flow a new mapping, as DNS lookups are).
func benchFlows(n, perEndpoint int) []Flow {
	flows := make([]Flow, n)
	for i := range flows {
		ep := i / perEndpoint
		host := netip.AddrFrom4([4]byte{198, 51, 100, byte(ep % 200)})
		priv := netip.AddrPortFrom(host, uint16(1024+ep/200))
		remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i % perEndpoint)}), 3478)
		public := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 1}), uint16(1024+ep%60000))
		flows[i] = Flow{Proto: UDP, Orig: Tuple{Src: priv, Dst: remote}, Reply: Tuple{Src: remote, Dst: public}}
	}
	return flows
}

// BenchmarkApply measures ingest: one New and one Destroy event per flow,
// against a table holding about 65,536 live flows.
func BenchmarkApply(b *testing.B) {
	flows := benchFlows(1<<16, 4)
	tab := New(Config{})
	tab.Replace(flows[:len(flows)/2])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := flows[len(flows)/2+i%(len(flows)/2)]
		tab.Apply(Event{Type: EventNew, Flow: f})
		tab.Apply(Event{Type: EventDestroy, Flow: f})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/event")
}

// BenchmarkBytesPerFlow measures the heap the table holds per live flow at
// 65,536 flows, for one flow per endpoint (worst case) and four.
func BenchmarkBytesPerFlow(b *testing.B) {
	for _, per := range []int{1, 4} {
		b.Run(map[int]string{1: "flow-per-endpoint", 4: "4-flows-per-endpoint"}[per], func(b *testing.B) {
			flows := benchFlows(1<<16, per)
			var perFlow float64
			for i := 0; i < b.N; i++ {
				perFlow = heapPerFlow(flows)
			}
			b.ReportMetric(perFlow, "B/flow")
		})
	}
}

func heapPerFlow(flows []Flow) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := New(Config{})
	for _, f := range flows {
		tab.Apply(Event{Type: EventNew, Flow: f})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tab)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(len(flows))
}
