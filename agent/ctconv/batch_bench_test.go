//go:build linux

package ctconv

import (
	"net/netip"
	"testing"

	"github.com/ti-mo/conntrack"

	"github.com/natp2p/natp2p/conntrackmap"
)

// benchBatch and benchQueue are the agent's batch and queue sizes
// (agent/source_linux.go's eventBatch and eventQueue).
const (
	benchBatch = 256
	benchQueue = 512
)

// BenchmarkBatch measures the agent's per-event path as its source runs
// it: conntrack events queued by the decoding worker, converted and
// drained in batches of 256 (Filter.Batch) and applied to a table, for
// source-NATed UDP flows (a NEW and a DESTROY event each).
func BenchmarkBatch(b *testing.B) {
	pub := netip.MustParseAddr("203.0.113.1")
	f := Filter{Public: func(a netip.Addr) bool { return a == pub }}
	const n = 4096
	evs := make([]conntrack.Event, 0, 2*n)
	for i := 0; i < n; i++ {
		fl := conntrack.NewFlow(17, conntrack.StatusSrcNAT|conntrack.StatusConfirmed, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
			netip.MustParseAddr("192.0.2.7"), uint16(1024+i), 3478, 30, 0)
		fl.TupleReply.IP.DestinationAddress = pub
		fl.TupleReply.Proto.DestinationPort = uint16(20000 + i)
		evs = append(evs, conntrack.Event{Type: conntrack.EventNew, Flow: &fl}, conntrack.Event{Type: conntrack.EventDestroy, Flow: &fl})
	}
	events := make(chan conntrack.Event, benchQueue)
	tab := conntrackmap.New(conntrackmap.Config{})
	batch := make([]conntrackmap.Event, 0, benchBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := (i * benchBatch) % len(evs)
		for _, ev := range evs[off : off+benchBatch] {
			events <- ev
		}
		ev := <-events
		batch = f.Batch(batch[:0], &ev, events, benchBatch)
		if len(batch) != benchBatch {
			b.Fatalf("batch of %d events, want %d", len(batch), benchBatch)
		}
		tab.ApplyAll(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/event")
}
