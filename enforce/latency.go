package enforce

import (
	"time"

	"github.com/natp2p/natp2p/internal/stats"
)

// latencySamples is how many recent pin installs the latency figures cover.
const latencySamples = 1024

// latencies is a ring of the latest pin install latencies, latencySamples
// at most. The zero value holds none.
type latencies struct {
	ring []time.Duration
	next int // where the next sample goes once the ring is full
}

// record adds d, replacing the oldest sample when the ring is full.
func (l *latencies) record(d time.Duration) {
	if len(l.ring) < latencySamples {
		l.ring = append(l.ring, d)
		return
	}
	l.ring[l.next] = d
	l.next = (l.next + 1) % latencySamples
}

// percentiles returns the median and the 99th percentile of the samples,
// zero for none.
func (l *latencies) percentiles() (p50, p99 time.Duration) {
	return stats.Percentile(l.ring, 50), stats.Percentile(l.ring, 99)
}
