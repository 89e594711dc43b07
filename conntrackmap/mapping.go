package conntrackmap

import (
	"net/netip"
	"sort"
	"time"
)

// Mapping is one private endpoint and what the NAT made of it.
type Mapping struct {
	Proto   Proto            `json:"proto"`
	Private netip.AddrPort   `json:"private"`
	Public  []netip.AddrPort `json:"public"`  // one while the NAT behaves; the first is the oldest
	Remotes []netip.AddrPort `json:"remotes"` // the live sessions' remote endpoints, sorted
	// Preserved reports whether the (first) public port is the private port.
	Preserved bool      `json:"preserved"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"` // when a flow last joined the mapping
}

// Mappings returns the live mappings sorted by protocol (UDP first) and
// private endpoint. It walks every flow: it is meant for listings, not hot
// paths.
func (t *Table) Mappings() []Mapping {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := appendMappings([]Mapping{}, t.v4, t.at)
	out = appendMappings(out, t.v6, t.at)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto > out[j].Proto
		}
		return out[i].Private.Compare(out[j].Private) < 0
	})
	return out
}

func appendMappings[A addr](out []Mapping, s *shard[A], at func(uint32) time.Time) []Mapping {
	byKey := make(map[endpointKey[A]]*Mapping, s.mappings.len())
	for k, sl := range s.mappings.first {
		m := &Mapping{Proto: k.proto, Private: k.ep.addrPort(), Public: []netip.AddrPort{sl.v.addrPort()},
			Preserved: k.ep.port == sl.v.port, FirstSeen: at(sl.since), LastSeen: at(sl.last)}
		for _, x := range s.mappings.more[k] {
			m.Public = append(m.Public, x.v.addrPort())
			m.LastSeen = latest(m.LastSeen, at(x.last))
		}
		byKey[k] = m
	}
	for fk := range s.flows {
		m := byKey[endpointKey[A]{fk.proto, fk.priv}]
		m.Remotes = append(m.Remotes, fk.remote.addrPort())
	}
	for _, m := range byKey {
		sort.Slice(m.Remotes, func(i, j int) bool { return m.Remotes[i].Compare(m.Remotes[j]) < 0 })
		out = append(out, *m)
	}
	return out
}

func (t *Table) at(sec uint32) time.Time { return t.epoch.Add(time.Duration(sec) * time.Second) }

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Summary returns the figures and recent evidence the checks need.
func (t *Table) Summary() Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Summary{Since: t.epoch, UDP: t.seen[0], TCP: t.seen[1], SeenUnpaired: t.unpaired, Ignored: t.ignored,
		Hairpin: t.hairpin}
	summarize(&s, t.v4)
	summarize(&s, t.v6)
	t.liveHairpins(&s)
	s.Hairpins = hairpinEvidence(s.Hairpins, len(t.ended.buf), t.ended.newest())
	for _, k := range []Kind{KindMapping, KindOverloading, KindPooling} {
		s.Violations = append(s.Violations, t.evidence[k].newest()...)
	}
	sort.SliceStable(s.Violations, func(i, j int) bool { return s.Violations[i].At.After(s.Violations[j].At) })
	return s
}

func summarize[A addr](s *Summary, sh *shard[A]) {
	for fk := range sh.flows {
		s.Proto(fk.proto).Flows++
	}
	for k, m := range sh.mappings.first {
		p := s.Proto(k.proto)
		p.Mappings++
		if k.ep.port == m.v.port {
			p.Preserved++
		}
	}
	for k := range sh.mappings.more {
		s.Proto(k.proto).Inconsistent++
	}
	for k := range sh.publics.more {
		s.Proto(k.proto).Overloaded++
	}
	s.Hosts += sh.hosts.len()
	s.Unpaired += sh.hosts.conflicted()
	s.PublicAddrs += publicAddrs(sh)
}

func publicAddrs[A addr](sh *shard[A]) int {
	addrs := make(map[A]struct{})
	for _, s := range sh.hosts.first {
		addrs[s.v] = struct{}{}
	}
	for _, extra := range sh.hosts.more {
		for _, s := range extra {
			addrs[s.v] = struct{}{}
		}
	}
	return len(addrs)
}
