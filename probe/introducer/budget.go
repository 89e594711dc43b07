package introducer

import (
	"sync/atomic"
	"time"
)

// budgetWindow is the global bound's bucket, in time: at most a tenth of
// a second's worth of replies at once.
const budgetWindow = 100 * time.Millisecond

// budget is the server's global bound on UDP replies: a token bucket of
// rate tokens per second and rate*budgetWindow at most, kept as one
// atomic so that every reader thread shares it without a lock (GCRA, the
// generic cell rate algorithm: next is when the bucket would be full
// again). A reply takes 1/rate seconds of it; a request that finds the
// bucket more than budgetWindow in debt is refused, and costs only an
// atomic load. In any interval T it allows at most rate*(T+budgetWindow)
// replies (plus one).
type budget struct {
	next  atomic.Int64 // ns since epoch at which the bucket is full
	cost  int64        // ns per reply; 0: unlimited
	epoch time.Time
}

// newBudget returns a budget of rate replies per second; rate <= 0 is
// unlimited.
func newBudget(rate float64, epoch time.Time) *budget {
	b := &budget{epoch: epoch}
	if rate > 0 {
		b.cost = max(1, int64(float64(time.Second)/rate))
	}
	return b
}

// allow takes a reply from the budget, if it has one. Safe concurrently;
// it allocates nothing.
func (b *budget) allow(now time.Time) bool {
	if b.cost == 0 {
		return true
	}
	t := int64(now.Sub(b.epoch))
	for {
		next := b.next.Load()
		after := max(next, t) + b.cost
		if after-t > int64(budgetWindow)+b.cost {
			return false
		}
		if b.next.CompareAndSwap(next, after) {
			return true
		}
	}
}
