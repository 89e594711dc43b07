package conntrackmap

// shard holds the flows of one address family.
type shard[A addr] struct {
	flows    map[flowKey[A]]flowVal[A]               // live flow -> its public endpoint
	mappings multiIndex[endpointKey[A], endpoint[A]] // private endpoint -> public endpoints
	publics  multiIndex[endpointKey[A], endpoint[A]] // public endpoint -> private endpoints
	hosts    multiIndex[A, A]                        // private address -> public addresses
}

// flowVal is what the table keeps of a flow: its public endpoint, and the
// resync generation that last saw it (flows a resync's dump did not show
// are swept), and whether conntrack saw a reply (it fits the padding).
type flowVal[A addr] struct {
	pub     endpoint[A]
	gen     uint8
	replied bool
}

func newShard[A addr]() *shard[A] {
	return &shard[A]{
		flows:    make(map[flowKey[A]]flowVal[A]),
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

// add adds f in generation gen. A flow the shard holds already is only
// marked with gen: it is not new, so it shows nothing new.
func (s *shard[A]) add(f Flow, now uint32, gen uint8) outcome {
	fk, priv, pub := keysOf[A](f)
	if v, ok := s.flows[fk]; ok {
		v.gen, v.replied = gen, v.replied || f.Replied
		s.flows[fk] = v
		return outcome{}
	}
	s.flows[fk] = flowVal[A]{pub: pub.ep, gen: gen, replied: f.Replied}
	o := outcome{added: true}
	other, conflict, shared := s.mappings.add(priv, pub.ep, fk.remote, now)
	o.reused = shared
	if conflict {
		other = s.closestUse(priv, other, fk.remote)
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

// closestUse picks, among a private endpoint's other public endpoints, one
// first used towards the same remote address as remote, if any: that pair
// shows address-and-port-dependent mapping. Otherwise it keeps first.
func (s *shard[A]) closestUse(priv endpointKey[A], first slot[endpoint[A]], remote endpoint[A]) slot[endpoint[A]] {
	if first.remote.addr == remote.addr {
		return first
	}
	extra := s.mappings.more[priv]
	for _, x := range extra[:len(extra)-1] { // the last one is the flow being added
		if x.remote.addr == remote.addr {
			return x
		}
	}
	return first
}

func (o *outcome) note(k Kind, u Use) {
	if o.clash == nil {
		o.clash = make(map[Kind]Use, 1)
	}
	o.clash[k] = u
}

func (s *shard[A]) remove(f Flow) {
	fk, _, _ := keysOf[A](f)
	s.removeKey(fk)
}

func (s *shard[A]) removeKey(fk flowKey[A]) {
	v, ok := s.flows[fk]
	if !ok {
		return
	}
	delete(s.flows, fk)
	s.mappings.remove(endpointKey[A]{fk.proto, fk.priv}, v.pub)
	s.publics.remove(endpointKey[A]{fk.proto, v.pub}, fk.priv)
	s.hosts.remove(fk.priv.addr, v.pub.addr)
}

// sweep removes the flows not seen in generation gen.
func (s *shard[A]) sweep(gen uint8) {
	for fk, v := range s.flows {
		if v.gen != gen {
			s.removeKey(fk)
		}
	}
}
