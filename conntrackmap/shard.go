package conntrackmap

// shard holds the flows of one address family.
type shard[A addr] struct {
	flows    map[flowKey[A]]endpoint[A]              // live flow -> its public endpoint
	mappings multiIndex[endpointKey[A], endpoint[A]] // private endpoint -> public endpoints
	publics  multiIndex[endpointKey[A], endpoint[A]] // public endpoint -> private endpoints
	hosts    multiIndex[A, A]                        // private address -> public addresses
}

func newShard[A addr]() *shard[A] {
	return &shard[A]{
		flows:    make(map[flowKey[A]]endpoint[A]),
		mappings: newMultiIndex[endpointKey[A], endpoint[A]](),
		publics:  newMultiIndex[endpointKey[A], endpoint[A]](),
		hosts:    newMultiIndex[A, A](),
	}
}

// outcome is what adding one flow showed: whether it joined a live mapping,
// and the older uses it clashes with, by kind.
type outcome struct {
	added, reused bool
	clash         map[Kind]Use
}

func (s *shard[A]) add(f Flow, now uint32) outcome {
	fk, priv, pub := keysOf[A](f)
	if _, ok := s.flows[fk]; ok {
		return outcome{}
	}
	s.flows[fk] = pub.ep
	o := outcome{added: true}
	other, conflict, shared := s.mappings.add(priv, pub.ep, fk.remote, now)
	o.reused = shared
	if conflict {
		o.note(KindMapping, Use{Private: f.Private(), Public: other.v.addrPort(), Remote: other.remote.addrPort()})
	}
	if other, conflict, _ := s.publics.add(pub, priv.ep, fk.remote, now); conflict {
		o.note(KindOverloading, Use{Private: other.v.addrPort(), Public: f.Public(), Remote: other.remote.addrPort()})
	}
	if other, conflict, _ := s.hosts.add(priv.ep.addr, pub.ep.addr, fk.remote.addr, now); conflict {
		o.note(KindPooling, Use{Private: f.Private(), Public: netipPort(other.v, 0), Remote: netipPort(other.remote, 0)})
	}
	return o
}

func (o *outcome) note(k Kind, u Use) {
	if o.clash == nil {
		o.clash = make(map[Kind]Use, 1)
	}
	o.clash[k] = u
}

func (s *shard[A]) remove(f Flow) {
	fk, priv, _ := keysOf[A](f)
	pubEP, ok := s.flows[fk]
	if !ok {
		return
	}
	delete(s.flows, fk)
	s.mappings.remove(priv, pubEP)
	s.publics.remove(endpointKey[A]{f.Proto, pubEP}, priv.ep)
	s.hosts.remove(priv.ep.addr, pubEP.addr)
}

func (s *shard[A]) reset() {
	clear(s.flows)
	s.mappings.reset()
	s.publics.reset()
	s.hosts.reset()
}
