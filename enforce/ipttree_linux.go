//go:build linux

package enforce

import (
	"slices"
	"strconv"
	"strings"

	"github.com/natp2p/natp2p/conntrackmap"
)

// iptables has no maps, so the pins are laid out as trees of chains that
// dispatch on the endpoint a rule matches (a pin's private endpoint as
// source for NATP2P_POST, as destination for NATP2P_HAIR, its public
// endpoint as destination for NATP2P_PRE). A key packs protocol, address
// and port in 56 bits; a node of the tree is a range of keys, and its
// children split the range at the next level of levelFree:
//
//	depth 0 root chain   -> -p udp / -p tcp
//	depth 1 protocol     -> -s A.B.0.0/16
//	depth 2, 3 address   -> /20, /24 (4 bits a level)
//	depth 4..7 address   -> /26, /28, /30, /32 (2 bits a level)
//	depth 8 host         -> --sport 4096-port ranges
//	depth 9, 10 ports    -> 256-port, 16-port ranges
//	depth 11             -> always a leaf (at most 16 ports)
//
// A node holding at most iptLeafPins pins is a leaf: its chain holds their
// rules. Otherwise its chain holds one jump per child that holds pins. Only
// chains that hold pins exist, and the layout is a function of the pins
// alone: an update rewrites the chains on the changed keys' paths whose
// content changes (the leaf, and a parent whose children changed).
// A new flow walks at most 16 rules a level (fewer where the pins share
// a prefix), a few dozen in all, whatever the number of pins: the jumps are
// gotos (-g), so a flow no leaf takes returns to the hook's chain. Within a
// /24 the levels are 2 bits: the hosts of a LAN share its /24, and a flow
// of a host without pins walks at most 4 rules a level there, not 16 (for
// a LAN of 200 pinned hosts, 5 rules of the /24 instead of 13).

// iptLeafPins is the most pins a node holds as a leaf: a new flow reaching
// a leaf walks its rules.
const iptLeafPins = 8

// levelFree is, per depth, how many low bits of a key a node leaves free.
var levelFree = [...]uint{56, 48, 32, 28, 24, 22, 20, 18, 16, 12, 8, 4}

// iptMaxDepth is the depth whose nodes are leaves whatever they hold.
const iptMaxDepth = len(levelFree) - 1

// iptTree is one tree: its root chain, the letter its chains are named by,
// and the options its dispatch matches.
type iptTree struct {
	root   string // NATP2P_POST, NATP2P_HAIR, NATP2P_PRE
	letter byte   // S, D, R
	addr   string // -s or -d
	port   string // --sport or --dport
	public bool   // keyed by the pin's public endpoint
}

var (
	treePost = iptTree{root: IPTPost, letter: 'S', addr: "-s", port: "--sport"}
	treeHair = iptTree{root: IPTHair, letter: 'D', addr: "-d", port: "--dport"}
	treePre  = iptTree{root: IPTPre, letter: 'R', addr: "-d", port: "--dport", public: true}
)

// iptTreeChain reports whether name is a chain of a tree's below its root.
func iptTreeChain(name string) bool {
	if len(name) < 9 || !strings.HasPrefix(name, "NATP2P_") {
		return false
	}
	return strings.IndexByte("SDR", name[7]) >= 0 && (name[8] == 'U' || name[8] == 'T')
}

// pinKey packs proto, address and port of an endpoint.
func pinKey(proto conntrackmap.Proto, p Pin, public bool) uint64 {
	ep := p.Private
	if public {
		ep = p.Public
	}
	a := ep.Addr().As4()
	return uint64(proto)<<48 | uint64(a[0])<<40 | uint64(a[1])<<32 | uint64(a[2])<<24 | uint64(a[3])<<16 | uint64(ep.Port())
}

// keyView is one state of a tree's pins: their sorted keys and the pin of
// each (under the key with bit set).
type keyView struct {
	keys []uint64
	pins pinLayer
	bit  uint64
}

func (v keyView) pin(k uint64) Pin {
	p, _ := v.pins.get(k | v.bit)
	return p
}

// span returns the index range of v's keys in [lo, hi).
func (v keyView) span(lo, hi uint64) (int, int) {
	i, _ := slices.BinarySearch(v.keys, lo)
	j, _ := slices.BinarySearch(v.keys, hi)
	return i, j
}

// node is one node of a tree: its depth and the key bits above the free
// ones.
type node struct {
	depth  int
	prefix uint64
}

func (n node) bounds() (lo, hi uint64) {
	return n.prefix, n.prefix + 1<<levelFree[n.depth]
}

func (n node) child(key uint64) node {
	f := levelFree[n.depth+1]
	return node{n.depth + 1, key >> f << f}
}

// isLeaf: a node holding count pins is a leaf.
func (n node) isLeaf(count int) bool { return count <= iptLeafPins || n.depth == iptMaxDepth }

// chain names the node's chain: the root's, or NATP2P_ then the tree's
// letter, U or T for the protocol, and the key's address and port bits
// fixed at that depth: in hex, and a level's last 2 bits, when they do not
// fill a hex digit, as w, x, y or z (at most 21 characters, under
// iptables' 28).
func (t iptTree) chain(n node) string {
	if n.depth == 0 {
		return t.root
	}
	proto := byte('U')
	if conntrackmap.Proto(n.prefix>>48) == conntrackmap.TCP {
		proto = 'T'
	}
	name := "NATP2P_" + string([]byte{t.letter, proto})
	fixed := n.prefix >> levelFree[n.depth] // the bits below the protocol's that the node fixes
	bits := 48 - int(levelFree[n.depth])
	if bits == 0 {
		return name
	}
	digits, half := bits/4, bits%4 == 2
	if half {
		fixed >>= 2
	}
	hex := strconv.FormatUint(fixed&(1<<(4*digits)-1)|1<<(4*digits), 16)
	name += "_" + hex[1:] // the leading 1 keeps the zeros
	if half {
		name += string("wxyz"[n.prefix>>levelFree[n.depth]&3])
	}
	return name
}

// jump is the rule (without "-A CHAIN") of a parent's chain that sends the keys of child c
// there.
func (t iptTree) jump(c node) string {
	proto := conntrackmap.Proto(c.prefix >> 48).String()
	var match string
	switch free := levelFree[c.depth]; {
	case c.depth == 1:
		match = "-p " + proto
	case free >= 16:
		a := uint32(c.prefix >> 16)
		addr := strconv.Itoa(int(a>>24)) + "." + strconv.Itoa(int(a>>16&255)) + "." + strconv.Itoa(int(a>>8&255)) + "." + strconv.Itoa(int(a&255))
		match = t.addr + " " + addr + "/" + strconv.Itoa(48-int(free))
	default:
		lo := c.prefix & 0xffff
		match = "-p " + proto + " " + t.port + " " + strconv.FormatUint(lo, 10) + ":" + strconv.FormatUint(lo+1<<free-1, 10)
	}
	// -g: a flow the child's chain does not NAT leaves the tree, back to
	// the hook's chain, rather than walk the rest of this chain, whose
	// other children cannot match it.
	return match + " -g " + t.chain(c)
}

// render returns the rules (without "-A CHAIN ") of node n in view v, and
// whether n is a leaf; rules of a leaf come from leafRules.
func (t iptTree) render(n node, v keyView, leafRules func(Pin) []string) (rules []string, leaf bool) {
	lo, hi := n.bounds()
	i, j := v.span(lo, hi)
	if n.isLeaf(j - i) {
		for _, k := range v.keys[i:j] {
			rules = append(rules, leafRules(v.pin(k))...)
		}
		return rules, true
	}
	t.eachChild(n, v, func(c node) { rules = append(rules, t.jump(c)) })
	return rules, false
}

// iptScript collects an iptables-restore script's lines by kind, so that
// chains are declared (created or flushed) before rules go in and deleted
// after every jump to them is gone.
type iptScript struct {
	declare, del, flush, rules, drop []string
}

// patch deletes the rules of chain in old but not in new, and appends
// those in new but not in old. The rules of a chain match disjoint flows,
// so their order does not matter; iptables-nft's restore deletes and
// appends rules for a fraction of what flushing a chain costs it.
func (s *iptScript) patch(chain string, old, new []string) {
	for _, r := range old {
		if !slices.Contains(new, r) {
			s.del = append(s.del, "-D "+chain+" "+r)
		}
	}
	for _, r := range new {
		if !slices.Contains(old, r) {
			s.rules = append(s.rules, "-A "+chain+" "+r)
		}
	}
}

func (s *iptScript) write(chain string, rules []string) {
	s.declare = append(s.declare, ":"+chain+" - [0:0]")
	for _, r := range rules {
		s.rules = append(s.rules, "-A "+chain+" "+r)
	}
}

func (s *iptScript) remove(chain string) {
	s.flush = append(s.flush, "-F "+chain)
	s.drop = append(s.drop, "-X "+chain)
}

// writeAll writes n's chain and those of all its descendants in v; with
// names, it only collects their names.
func (t iptTree) writeAll(n node, v keyView, leafRules func(Pin) []string, s *iptScript, names *[]string) {
	rules, leaf := t.render(n, v, leafRules)
	if names != nil {
		*names = append(*names, t.chain(n))
	} else {
		s.write(t.chain(n), rules)
	}
	if !leaf {
		t.eachChild(n, v, func(c node) { t.writeAll(c, v, leafRules, s, names) })
	}
}

// update adds to s what turns n's subtree from old into new, visiting only
// nodes that hold one of the changed keys (sorted).
func (t iptTree) update(n node, old, new keyView, changed []uint64, leafRules func(Pin) []string, s *iptScript) {
	lo, hi := n.bounds()
	if c, _ := slices.BinarySearch(changed, lo); c == len(changed) || changed[c] >= hi {
		return
	}
	oi, oj := old.span(lo, hi)
	ni, nj := new.span(lo, hi)
	if nj == ni && n.depth > 0 {
		if oj > oi {
			var names []string
			t.writeAll(n, old, leafRules, s, &names)
			for _, name := range names {
				s.remove(name)
			}
		}
		return
	}
	oldRules, oldLeaf := t.render(n, old, leafRules)
	newRules, newLeaf := t.render(n, new, leafRules)
	if oj == oi || oldLeaf != newLeaf {
		s.write(t.chain(n), newRules)
	} else {
		s.patch(t.chain(n), oldRules, newRules)
	}
	switch {
	case !oldLeaf && !newLeaf:
		t.updateChildren(n, old, new, changed, leafRules, s)
	case !oldLeaf: // collapsed into a leaf: the old children go
		var names []string
		t.writeAll(n, old, leafRules, s, &names)
		for _, name := range names[1:] {
			s.remove(name)
		}
	case !newLeaf: // split: every child is new
		t.eachChild(n, new, func(c node) { t.writeAll(c, new, leafRules, s, nil) })
	}
}

// updateChildren updates the children of n that hold a changed key, in old
// or new.
func (t iptTree) updateChildren(n node, old, new keyView, changed []uint64, leafRules func(Pin) []string, s *iptScript) {
	lo, hi := n.bounds()
	c, _ := slices.BinarySearch(changed, lo)
	for ; c < len(changed) && changed[c] < hi; c++ {
		ch := n.child(changed[c])
		t.update(ch, old, new, changed, leafRules, s)
		_, chi := ch.bounds()
		for c+1 < len(changed) && changed[c+1] < chi {
			c++
		}
	}
}

// eachChild calls f for each child of n holding keys of v.
func (t iptTree) eachChild(n node, v keyView, f func(node)) {
	lo, hi := n.bounds()
	i, j := v.span(lo, hi)
	for k := i; k < j; {
		c := n.child(v.keys[k])
		f(c)
		_, chi := c.bounds()
		_, k = v.span(chi, chi) // the next child's first key
	}
}
