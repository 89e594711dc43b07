package introducer

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per source, for at most max sources: the
// least recently seen one is forgotten to make room (LRU), and its slot
// reused, so a flood of spoofed sources costs no memory beyond max slots.
// Sources are IPv4 addresses or IPv6 /64 prefixes (one subscriber's).
type limiter struct {
	rate, burst float64 // tokens per second; rate <= 0: unlimited
	max         int
	epoch       time.Time

	mu         sync.Mutex
	index      map[netip.Addr]int32
	slots      []bucket
	head, tail int32 // most and least recently used slot, or -1
}

type bucket struct {
	key        netip.Addr
	tokens     float64
	last       time.Duration // since epoch
	prev, next int32         // LRU list, -1 at the ends
}

func newLimiter(rate float64, burst, max int, epoch time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), max: max, epoch: epoch,
		index: map[netip.Addr]int32{}, head: -1, tail: -1}
}

// sourceKey is the bucket key of an address.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

// allow takes a token from a's bucket, if it has one. Safe concurrently.
func (l *limiter) allow(a netip.Addr, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	t := now.Sub(l.epoch)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.slots[l.find(sourceKey(a), t)]
	b.tokens = min(l.burst, b.tokens+l.rate*max(0, t-b.last).Seconds())
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// find returns k's slot, moved to the front, creating it (full) if needed.
func (l *limiter) find(k netip.Addr, t time.Duration) int32 {
	i, ok := l.index[k]
	switch {
	case ok:
		l.unlink(i)
	case len(l.slots) < l.max:
		i = int32(len(l.slots))
		l.slots = append(l.slots, bucket{})
	default:
		i = l.tail
		l.unlink(i)
		delete(l.index, l.slots[i].key)
	}
	if !ok {
		l.slots[i] = bucket{key: k, tokens: l.burst, last: t}
		l.index[k] = i
	}
	l.pushFront(i)
	return i
}

func (l *limiter) unlink(i int32) {
	b := &l.slots[i]
	if b.prev >= 0 {
		l.slots[b.prev].next = b.next
	} else {
		l.head = b.next
	}
	if b.next >= 0 {
		l.slots[b.next].prev = b.prev
	} else {
		l.tail = b.prev
	}
}

func (l *limiter) pushFront(i int32) {
	l.slots[i].prev, l.slots[i].next = -1, l.head
	if l.head >= 0 {
		l.slots[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// sources returns the number of sources tracked.
func (l *limiter) sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.index)
}
