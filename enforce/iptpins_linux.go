//go:build linux

package enforce

import (
	"fmt"
	"slices"
	"sort"
)

// iptPins are the pins the backend put in the kernel, as the trees' keys:
// an update lays out only what changed against them.
type iptPins struct {
	byPriv map[uint64]Pin // by private key
	priv   []uint64       // sorted private keys
	pub    []uint64       // sorted public keys
	byPub  map[uint64]Pin
}

func newIPTPins(pins []Pin) (*iptPins, error) {
	s := &iptPins{byPriv: map[uint64]Pin{}, byPub: map[uint64]Pin{}}
	for _, p := range pins {
		if err := s.put(p); err != nil {
			return nil, err
		}
	}
	s.priv, s.pub = pinMapKeys(s.byPriv), pinMapKeys(s.byPub)
	return s, nil
}

func pinMapKeys(m map[uint64]Pin) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// sort.Slice, already in the agent: slices.Sort would add a sort of
	// its own for uint64 (6 KB of mipsle code).
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// put adds p to the maps: one pin per private and per public endpoint.
func (s *iptPins) put(p Pin) error {
	if !p.valid() {
		return fmt.Errorf("bad pin %v", p)
	}
	k, pk := pinKey(p.Proto, p, false), pinKey(p.Proto, p, true)
	if _, ok := s.byPriv[k]; ok {
		return fmt.Errorf("pin %v: its private endpoint is pinned already", p)
	}
	if _, ok := s.byPub[pk]; ok {
		return fmt.Errorf("pin %v: its public endpoint is another pin's", p)
	}
	s.byPriv[k], s.byPub[pk] = p, p
	return nil
}

// view is the keys of a tree's, private or public.
func (s *iptPins) view(public bool) keyView {
	if public {
		return keyView{s.pub, func(k uint64) Pin { return s.byPub[k] }}
	}
	return keyView{s.priv, func(k uint64) Pin { return s.byPriv[k] }}
}

// iptChange is an update of iptPins: the views after it, the keys it
// changes (sorted), and commit, which applies it to the pins.
type iptChange struct {
	priv, pub               keyView
	changedPriv, changedPub []uint64
	commit                  func()
}

// change checks an update of s (deletions first) and returns it, s
// unchanged. A pin to delete that s does not hold fails it.
func (s *iptPins) change(add, del []Pin) (*iptChange, error) {
	// Overlays over s's maps: a zero Pin is a deleted one.
	priv, pub := map[uint64]Pin{}, map[uint64]Pin{}
	get := func(base, over map[uint64]Pin, k uint64) (Pin, bool) {
		if p, ok := over[k]; ok {
			return p, p != Pin{}
		}
		p, ok := base[k]
		return p, ok
	}
	for _, p := range del {
		k, pk := pinKey(p.Proto, p, false), pinKey(p.Proto, p, true)
		if got, ok := get(s.byPriv, priv, k); !p.valid() || !ok || got != p {
			return nil, fmt.Errorf("pin %v is not installed", p)
		}
		priv[k], pub[pk] = Pin{}, Pin{}
	}
	for _, p := range add {
		if !p.valid() {
			return nil, fmt.Errorf("bad pin %v", p)
		}
		k, pk := pinKey(p.Proto, p, false), pinKey(p.Proto, p, true)
		_, taken := get(s.byPriv, priv, k)
		_, takenPub := get(s.byPub, pub, pk)
		if taken || takenPub {
			return nil, fmt.Errorf("pin %v: its endpoints are pinned already", p)
		}
		priv[k], pub[pk] = p, p
	}
	c := &iptChange{changedPriv: pinMapKeys(priv), changedPub: pinMapKeys(pub)}
	privKeys, pubKeys := mergeKeys(s.priv, priv), mergeKeys(s.pub, pub)
	c.priv = keyView{privKeys, func(k uint64) Pin { p, _ := get(s.byPriv, priv, k); return p }}
	c.pub = keyView{pubKeys, func(k uint64) Pin { p, _ := get(s.byPub, pub, k); return p }}
	c.commit = func() {
		for _, m := range []struct{ base, over map[uint64]Pin }{{s.byPriv, priv}, {s.byPub, pub}} {
			for k, p := range m.over {
				if p == (Pin{}) {
					delete(m.base, k)
				} else {
					m.base[k] = p
				}
			}
		}
		s.priv, s.pub = privKeys, pubKeys
	}
	return c, nil
}

// mergeKeys returns sorted keys with those of over added (a pin) or taken
// out (a zero Pin); keys is left as it is.
func mergeKeys(keys []uint64, over map[uint64]Pin) []uint64 {
	out := make([]uint64, 0, len(keys)+len(over))
	changed := pinMapKeys(over)
	i := 0
	for _, k := range changed {
		j, _ := slices.BinarySearch(keys[i:], k)
		out = append(out, keys[i:i+j]...)
		i += j
		if i < len(keys) && keys[i] == k {
			i++
		}
		if over[k] != (Pin{}) {
			out = append(out, k)
		}
	}
	return append(out, keys[i:]...)
}
