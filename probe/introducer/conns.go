package introducer

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// connSet tracks the TCP connections, for their limits and for shutdown:
// at most max in all and perSource per source (sourceKey). Deadlines are
// set under its lock, so that a connection never outlives shutdown by
// more than the grace period.
type connSet struct {
	max, perSource int

	mu       sync.Mutex
	conns    map[net.Conn]conn
	bySource map[netip.Addr]int
	stop     time.Time // when shut down: the end of the grace period
}

// conn is a tracked connection's source and its end of life.
type conn struct {
	source netip.Addr // sourceKey
	end    time.Time
}

func newConnSet(max, perSource int) *connSet {
	return &connSet{max: max, perSource: perSource, conns: map[net.Conn]conn{}, bySource: map[netip.Addr]int{}}
}

// add tracks c, from src, until end: c's deadline for reading and
// writing, which nothing it sends moves. False when shut down, full, or
// src has perSource connections already (the caller closes c).
func (cs *connSet) add(c net.Conn, src netip.Addr, end time.Time) bool {
	k := sourceKey(src)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.stop.IsZero() || len(cs.conns) >= cs.max || cs.bySource[k] >= cs.perSource {
		return false
	}
	cs.conns[c] = conn{source: k, end: end}
	cs.bySource[k]++
	c.SetDeadline(end)
	return true
}

func (cs *connSet) remove(c net.Conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	k := cs.conns[c].source
	delete(cs.conns, c)
	if cs.bySource[k]--; cs.bySource[k] <= 0 {
		delete(cs.bySource, k)
	}
}

// shutdown stops reading on every connection at once and lets a response
// being written finish within grace (and within the connection's life).
func (cs *connSet) shutdown(grace time.Duration) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := time.Now()
	cs.stop = now.Add(grace)
	for c, info := range cs.conns {
		c.SetReadDeadline(now)
		if cs.stop.Before(info.end) {
			c.SetWriteDeadline(cs.stop)
		}
	}
}
