package conntrackmap

import "net/netip"

// PublicOf returns the public endpoint of a live mapping of the private
// endpoint (the first one, when the NAT gave it several), and false when no
// live flow has that private endpoint. Enforcement asks it whether a pinned
// endpoint is still in use.
func (t *Table) PublicOf(p Proto, private netip.AddrPort) (netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if private.Addr().Is4() {
		return publicOf(t.v4, p, private)
	}
	return publicOf(t.v6, p, private)
}

func publicOf[A addr](s *shard[A], p Proto, private netip.AddrPort) (netip.AddrPort, bool) {
	sl, ok := s.mappings.first[endpointKey[A]{p, endpointOf[A](private)}]
	if !ok {
		return netip.AddrPort{}, false
	}
	return sl.v.addrPort(), true
}

// PublicUsed reports whether any live flow is mapped to the public
// endpoint. Enforcement asks it before it moves an endpoint to a new port.
func (t *Table) PublicUsed(p Proto, public netip.AddrPort) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if public.Addr().Is4() {
		_, ok := t.v4.publics.first[endpointKey[[4]byte]{p, endpointOf[[4]byte](public)}]
		return ok
	}
	_, ok := t.v6.publics.first[endpointKey[[16]byte]{p, endpointOf[[16]byte](public)}]
	return ok
}

// PublicShared reports whether a live flow of a private endpoint other than
// private uses public (port overloading, RFC 4787 REQ-3). Enforcement asks
// it before it pins private to public: a pin on a shared port would make
// the pinned endpoint's flow to the other's destination clash.
func (t *Table) PublicShared(p Proto, public, private netip.AddrPort) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if public.Addr().Is4() && private.Addr().Is4() {
		return shared(t.v4, p, public, private)
	}
	return shared(t.v6, p, public, private)
}

func shared[A addr](s *shard[A], p Proto, public, private netip.AddrPort) bool {
	k := endpointKey[A]{p, endpointOf[A](public)}
	first, ok := s.publics.first[k]
	if !ok {
		return false
	}
	return first.v != endpointOf[A](private) || len(s.publics.more[k]) > 0
}
