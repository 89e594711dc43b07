package conntrackmap

import (
	"fmt"
	"net/netip"
	"time"
)

// Kind says which guideline a violation breaks.
type Kind uint8

// The kinds of violation that flows can show.
const (
	// KindMapping: one private endpoint behind two public endpoints at the
	// same time (RFC 4787 REQ-1, RFC 5382 REQ-1; draft-ford-natp2p-00 3.1).
	KindMapping Kind = iota + 1
	// KindOverloading: one public endpoint used by two private endpoints at
	// the same time (RFC 4787 REQ-3).
	KindOverloading
	// KindPooling: one private host behind two public addresses at the same
	// time (RFC 4787 REQ-2).
	KindPooling
)

// String returns "mapping", "overloading" or "pooling".
func (k Kind) String() string {
	switch k {
	case KindMapping:
		return "mapping"
	case KindOverloading:
		return "overloading"
	case KindPooling:
		return "pooling"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Use is one flow's view of a mapping: who sent, what the NAT made of it,
// and where it went.
type Use struct {
	Private, Public, Remote netip.AddrPort
}

// Violation is the evidence of one broken guideline: two uses, live at the
// same time, that the guideline forbids together. A is the older use.
type Violation struct {
	Kind  Kind
	Proto Proto
	At    time.Time
	A, B  Use
}

// PortDependent reports, for a KindMapping violation, whether the two
// sessions went to one remote address (on two ports): then the mapping
// depends on the remote port, RFC 4787's address-and-port-dependent mapping.
// Otherwise it shows at least address-dependent mapping.
func (v Violation) PortDependent() bool {
	return v.A.Remote.Addr() == v.B.Remote.Addr()
}

// Preserving reports whether either use kept its private port as the
// public port: port preservation then broke a consistent mapping
// (draft-ford-natp2p-00 3.1.1).
func (v Violation) Preserving() bool {
	return v.A.Private.Port() == v.A.Public.Port() || v.B.Private.Port() == v.B.Public.Port()
}

// ring keeps the newest values (violations, ended hairpinned flows), at
// most cap(buf) of them.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) *ring[T] { return &ring[T]{buf: make([]T, n)} }

func (r *ring[T]) push(v T) {
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// newest returns the kept values, newest first.
func (r *ring[T]) newest() []T {
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]T, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
