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
	// byKey holds each pin under its private key and under its public
	// key with publicBit set: one map, one set of map functions in the
	// agent.
	byKey map[uint64]Pin
	priv  []uint64 // sorted private keys
	pub   []uint64 // sorted public keys, without publicBit
}

// publicBit marks a public key in iptPins.byKey (keys use 56 bits).
const publicBit = 1 << 63

func newIPTPins(pins []Pin) (*iptPins, error) {
	s := &iptPins{byKey: map[uint64]Pin{}}
	c, err := s.change(pins, nil)
	if err != nil {
		return nil, err
	}
	c.commit()
	return s, nil
}

// pinMapKeys returns the keys of m with publicBit as public says, sorted.
func pinMapKeys(m map[uint64]Pin, public bool) []uint64 {
	var keys []uint64
	for k := range m {
		if k&publicBit != 0 == public {
			keys = append(keys, k&^publicBit)
		}
	}
	// sort.Slice, already in the agent: slices.Sort would add a sort of
	// its own for uint64 (6 KB of mipsle code).
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// pinLayer is a map of pins over another, where a zero Pin is a deleted
// one: the pins after an update, before it is committed.
type pinLayer struct{ base, over map[uint64]Pin }

func (l pinLayer) get(k uint64) (Pin, bool) {
	if p, ok := l.over[k]; ok {
		return p, p != Pin{}
	}
	p, ok := l.base[k]
	return p, ok
}

// view is the keys of a tree's, private or public.
func (s *iptPins) view(public bool) keyView {
	if public {
		return keyView{s.pub, pinLayer{base: s.byKey}, publicBit}
	}
	return keyView{s.priv, pinLayer{base: s.byKey}, 0}
}

// iptChange is an update of iptPins: the views after it, the keys it
// changes (sorted), and commit, which applies it to the pins.
type iptChange struct {
	s                       *iptPins
	layer                   pinLayer
	priv, pub               keyView
	changedPriv, changedPub []uint64
}

// change checks an update of s (deletions first) and returns it, s
// unchanged. A pin to delete that s does not hold fails it, and so does
// one to add whose private or public endpoint is pinned.
func (s *iptPins) change(add, del []Pin) (*iptChange, error) {
	l := pinLayer{s.byKey, map[uint64]Pin{}}
	for i := range len(del) + len(add) {
		isDel, p := i < len(del), Pin{}
		if isDel {
			p = del[i]
		} else {
			p = add[i-len(del)]
		}
		if !p.valid() {
			return nil, fmt.Errorf("bad pin %v", p)
		}
		k, pk := pinKey(p.Proto, p, false), pinKey(p.Proto, p, true)|publicBit
		got, ok := l.get(k)
		_, okPub := l.get(pk)
		switch {
		case isDel && (!ok || got != p):
			return nil, fmt.Errorf("pin %v is not installed", p)
		case isDel:
			l.over[k], l.over[pk] = Pin{}, Pin{}
		case ok || okPub:
			return nil, fmt.Errorf("pin %v: its endpoints are pinned already", p)
		default:
			l.over[k], l.over[pk] = p, p
		}
	}
	c := &iptChange{s: s, layer: l, changedPriv: pinMapKeys(l.over, false), changedPub: pinMapKeys(l.over, true)}
	c.priv = keyView{mergeKeys(s.priv, c.changedPriv, l, 0), l, 0}
	c.pub = keyView{mergeKeys(s.pub, c.changedPub, l, publicBit), l, publicBit}
	return c, nil
}

// commit applies the change to its pins.
func (c *iptChange) commit() {
	for k, p := range c.layer.over {
		if p == (Pin{}) {
			delete(c.s.byKey, k)
		} else {
			c.s.byKey[k] = p
		}
	}
	c.s.priv, c.s.pub = c.priv.keys, c.pub.keys
}

// mergeKeys returns sorted keys with the changed ones (sorted) added (a
// pin in l) or taken out; keys is left as it is.
func mergeKeys(keys, changed []uint64, l pinLayer, bit uint64) []uint64 {
	out := make([]uint64, 0, len(keys)+len(changed))
	i := 0
	for _, k := range changed {
		j, _ := slices.BinarySearch(keys[i:], k)
		out = append(out, keys[i:i+j]...)
		i += j
		if i < len(keys) && keys[i] == k {
			i++
		}
		if _, ok := l.get(k | bit); ok {
			out = append(out, k)
		}
	}
	return append(out, keys[i:]...)
}
