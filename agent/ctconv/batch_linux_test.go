package ctconv

import (
	"testing"

	"github.com/ti-mo/conntrack"

	"github.com/natp2p/natp2p/conntrackmap"
)

func TestBatch(t *testing.T) {
	kept := natted(17, ip("203.0.113.1"), conntrack.StatusSrcNAT)
	dropped := natted(1, ip("203.0.113.1"), conntrack.StatusSrcNAT) // icmp: not modelled
	newEv := conntrack.Event{Type: conntrack.EventNew, Flow: &kept}
	skipEv := conntrack.Event{Type: conntrack.EventNew, Flow: &dropped}
	tests := []struct {
		name           string
		first          conntrack.Event
		queued         []conntrack.Event
		limit          int
		want, leftOver int
	}{
		{"the first alone", newEv, nil, 4, 1, 0},
		{"the queue drained", newEv, []conntrack.Event{newEv, newEv}, 4, 3, 0},
		{"up to the limit", newEv, []conntrack.Event{newEv, newEv, newEv, newEv}, 3, 3, 2},
		{"unmodelled ones skipped, not counted", skipEv, []conntrack.Event{skipEv, newEv, skipEv, newEv}, 2, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := make(chan conntrack.Event, len(tt.queued))
			for _, ev := range tt.queued {
				events <- ev
			}
			first := tt.first
			got := Filter{}.Batch(make([]conntrackmap.Event, 0, tt.limit), &first, events, tt.limit)
			if len(got) != tt.want || len(events) != tt.leftOver {
				t.Fatalf("batch of %d, %d left queued; want %d, %d", len(got), len(events), tt.want, tt.leftOver)
			}
			for _, ev := range got {
				if ev.Type != conntrackmap.EventNew || ev.Flow.Proto != conntrackmap.UDP {
					t.Errorf("event %+v in the batch", ev)
				}
			}
		})
	}
}
