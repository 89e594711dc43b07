package conntrackmap

// slot is one value live under a key, with the number of flows using it and
// where the flow that made it went (kept for evidence; V is an endpoint, or
// an address for hosts).
type slot[V comparable] struct {
	v           V
	remote      V
	n           uint32
	since, last uint32 // seconds since the table's epoch
}

// multiIndex counts, for each key, the values that live flows give it. The
// guidelines want one value per key (one public endpoint per private one,
// one private endpoint per public one, ...), so the second and later values
// live in a separate map that is empty while the NAT behaves.
type multiIndex[K, V comparable] struct {
	first map[K]slot[V]
	more  map[K][]slot[V]
}

func newMultiIndex[K, V comparable]() multiIndex[K, V] {
	return multiIndex[K, V]{first: make(map[K]slot[V]), more: make(map[K][]slot[V])}
}

// add counts one more flow giving k the value v. When v is new for k while k
// already holds another value, it returns that value's slot and conflict.
// shared says that v was already live under k (the flow reuses it).
func (m *multiIndex[K, V]) add(k K, v V, remote V, now uint32) (other slot[V], conflict, shared bool) {
	s, ok := m.first[k]
	if !ok {
		m.first[k] = slot[V]{v: v, n: 1, remote: remote, since: now, last: now}
		return other, false, false
	}
	if s.v == v {
		s.n++
		s.last = now
		m.first[k] = s
		return other, false, true
	}
	extra := m.more[k]
	for i := range extra {
		if extra[i].v == v {
			extra[i].n++
			extra[i].last = now
			return other, false, true
		}
	}
	m.more[k] = append(extra, slot[V]{v: v, n: 1, remote: remote, since: now, last: now})
	return s, true, false
}

// remove counts one flow less for v under k. When the first value is gone,
// the next one (if any) takes its place.
func (m *multiIndex[K, V]) remove(k K, v V) {
	s, ok := m.first[k]
	if !ok {
		return
	}
	if s.v == v {
		if s.n--; s.n > 0 {
			m.first[k] = s
			return
		}
		m.promote(k)
		return
	}
	m.removeExtra(k, v)
}

func (m *multiIndex[K, V]) promote(k K) {
	extra := m.more[k]
	if len(extra) == 0 {
		delete(m.first, k)
		return
	}
	m.first[k] = extra[0]
	m.setMore(k, extra[1:])
}

func (m *multiIndex[K, V]) removeExtra(k K, v V) {
	extra := m.more[k]
	for i := range extra {
		if extra[i].v != v {
			continue
		}
		if extra[i].n--; extra[i].n == 0 {
			extra = append(extra[:i:i], extra[i+1:]...)
		}
		m.setMore(k, extra)
		return
	}
}

func (m *multiIndex[K, V]) setMore(k K, extra []slot[V]) {
	if len(extra) == 0 {
		delete(m.more, k)
		return
	}
	m.more[k] = extra
}

// conflicted is the number of keys holding two or more values now.
func (m *multiIndex[K, V]) conflicted() int { return len(m.more) }

func (m *multiIndex[K, V]) len() int { return len(m.first) }
