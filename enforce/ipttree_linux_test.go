//go:build linux

package enforce

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/natp2p/natp2p/conntrackmap"
)

// simNAT runs iptables-restore lines on a model of the nat table's user
// chains, as legacy iptables does, line by line: a chain deleted must
// exist, be empty and have no jump to it left.
type simNAT map[string][]string

func (s simNAT) apply(lines []string) error {
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, ":"):
			s[l[1:strings.IndexByte(l, ' ')]] = []string{}
		case f[0] == "-D":
			rule := strings.Join(f[2:], " ")
			i := slices.Index(s[f[1]], rule)
			if i < 0 {
				return fmt.Errorf("%q: no such rule", l)
			}
			s[f[1]] = slices.Delete(s[f[1]], i, i+1)
		case f[0] == "-F" || f[0] == "-A":
			if _, ok := s[f[1]]; !ok {
				return fmt.Errorf("%q: no chain %s", l, f[1])
			}
			if f[0] == "-F" {
				s[f[1]] = []string{}
			} else {
				s[f[1]] = append(s[f[1]], strings.Join(f[2:], " "))
			}
		case f[0] == "-X":
			if rules, ok := s[f[1]]; !ok || len(rules) > 0 {
				return fmt.Errorf("%q: chain missing or not empty", l)
			}
			for c, rules := range s {
				for _, r := range rules {
					if strings.HasSuffix(r, " "+f[1]) {
						return fmt.Errorf("%q: %s still jumps there", l, c)
					}
				}
			}
			delete(s, f[1])
		default:
			return fmt.Errorf("unexpected line %q", l)
		}
	}
	for c, rules := range s {
		for _, r := range rules {
			if i := strings.Index(r, " -g "); i >= 0 && s[r[i+4:]] == nil {
				return fmt.Errorf("%s: %q jumps to a missing chain", c, r)
			}
		}
	}
	return nil
}

// installed is the model of a fresh install of pins.
func installed(t *testing.T, r Rules, pins []Pin) simNAT {
	t.Helper()
	set, err := newIPTPins(pins)
	if err != nil {
		t.Fatal(err)
	}
	s := simNAT{IPTPost: {}, IPTHair: {}, IPTPre: {}}
	if err := s.apply(installScript(r, nil, set, nil)); err != nil {
		t.Fatal(err)
	}
	return s
}

var treeRules = Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lanNets[:1], Mapping: true, Hairpin: true}

// spreadPins are n pins over hosts LAN hosts of 10.0.0.0/16, on random
// ports of Linux's ephemeral range, UDP and TCP.
func spreadPins(rng *rand.Rand, n, hosts int) []Pin {
	seen := map[endpointKey]bool{}
	var pins []Pin
	for len(pins) < n {
		h := rng.IntN(hosts)
		priv := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(h >> 8), byte(h)}), uint16(32768+rng.IntN(28232)))
		proto := conntrackmap.UDP
		if rng.IntN(4) == 0 {
			proto = conntrackmap.TCP
		}
		if seen[endpointKey{proto, priv}] {
			continue
		}
		seen[endpointKey{proto, priv}] = true
		pub := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 1}), uint16(1024+len(pins)))
		pins = append(pins, Pin{proto, priv, pub})
	}
	return pins
}

// walkCost is how many rules of tree tr a new flow of key walks: the
// goto it takes at each level and every rule before it, and every rule of
// the leaf it reaches (no pin: it matches none).
func walkCost(tr iptTree, v keyView, rules func(Pin) []string, key uint64) (cost, depth int) {
	n := node{}
	for {
		rs, leaf := tr.render(n, v, rules)
		if leaf {
			return cost + len(rs), n.depth
		}
		i, at := 0, -1
		var next node
		tr.eachChild(n, v, func(c node) {
			if lo, hi := c.bounds(); key >= lo && key < hi {
				at, next = i, c
			}
			i++
		})
		if at < 0 {
			return cost + len(rs), n.depth
		}
		cost, n = cost+at+1, next
	}
}

// A new flow walks a few dozen rules of each tree at 10,000 pins, spread
// over many hosts or all on one; chain names fit iptables' 28 characters
// and read as natp2p's.
func TestIPTTreeBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		name        string
		pins, hosts int
		maxCost     int
	}{
		{"8 pins: one chain", 8, 4, 8 * 2},
		{"1,000 pins over 250 hosts", 1000, 250, 64},
		{"10,000 pins over 250 hosts", 10000, 250, 64},
		{"10,000 pins over 4,000 hosts", 10000, 4000, 64},
		{"10,000 pins on one host", 10000, 1, 64},
	} {
		if testing.Short() && tt.pins > 1000 {
			continue // -short, as under qemu-user (scripts/test-cross.sh): the large layouts run natively
		}
		t.Run(tt.name, func(t *testing.T) {
			pins := spreadPins(rng, tt.pins, tt.hosts)
			set, err := newIPTPins(pins)
			if err != nil {
				t.Fatal(err)
			}
			worst, chains, sum, walks := 0, 0, 0, 0
			for _, tr := range treeRules.trees() {
				v := set.view(tr.t.public)
				var names []string
				tr.t.writeAll(node{}, v, tr.rules, nil, &names)
				chains += len(names)
				seen := map[string]bool{}
				for _, name := range names[1:] {
					if len(name) > 28 || !iptTreeChain(name) || seen[name] {
						t.Errorf("chain name %q: too long, not natp2p's or another chain's too", name)
					}
					seen[name] = true
				}
				// Each pin's endpoint, and as many endpoints without one.
				for _, p := range pins {
					other := p
					other.Private = netip.AddrPortFrom(p.Private.Addr(), p.Private.Port()^1)
					other.Public = netip.AddrPortFrom(p.Public.Addr(), p.Public.Port()+20000)
					for _, q := range []Pin{p, other} {
						cost, _ := walkCost(tr.t, v, tr.rules, pinKey(q.Proto, q, tr.t.public))
						worst, sum, walks = max(worst, cost), sum+cost, walks+1
					}
				}
			}
			t.Logf("%d chains; a new flow walks %.1f rules of a tree on average, at most %d", chains, float64(sum)/float64(walks), worst)
			if worst > tt.maxCost {
				t.Errorf("a new flow walks up to %d rules of a tree; want at most %d", worst, tt.maxCost)
			}
		})
	}
}

// Updates, one pin at a time or in batches, leave exactly what installing
// the pins they end with makes: same chains, same rules, no chain left.
func TestIPTTreeUpdateMatchesInstall(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pool := spreadPins(rng, 1500, 3)
	for _, r := range []Rules{treeRules, {WAN: "wan0", Mapping: true}, {WAN: "wan0", LAN: []string{"br-lan"}, Sources: lanNets, Hairpin: true}} {
		held := map[int]bool{}
		set, _ := newIPTPins(nil)
		sim := installed(t, r, nil)
		steps := 100
		if testing.Short() {
			steps = 20 // as under qemu-user (scripts/test-cross.sh); all 100 run natively
		}
		for step := range steps {
			// Batches of one, a few, or hundreds (a WAN change), adds and
			// deletions mixed; now and then a pin moves.
			batch := []int{1, 1, 1, 5, 200}[rng.IntN(5)]
			var add, del []Pin
			for range batch {
				i := rng.IntN(len(pool))
				switch {
				case slices.ContainsFunc(del, func(p Pin) bool { return p == pool[i] }),
					slices.ContainsFunc(add, func(p Pin) bool { return p == pool[i] }):
				case held[i] && rng.IntN(8) == 0:
					moved := pool[i]
					moved.Public = netip.AddrPortFrom(moved.Public.Addr(), moved.Public.Port()+30000)
					del, add = append(del, pool[i]), append(add, moved)
					pool[i] = moved
				case held[i]:
					del, held[i] = append(del, pool[i]), false
				default:
					add, held[i] = append(add, pool[i]), true
				}
			}
			c, err := set.change(add, del)
			if err != nil {
				t.Fatal(err)
			}
			if err := sim.apply(updateScript(r, set, c)); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			c.commit()
			var now []Pin
			for i := range held {
				if held[i] {
					now = append(now, pool[i])
				}
			}
			// The rules of a chain match disjoint flows: their order
			// does not matter.
			if diff := cmp.Diff(installed(t, r, now), sim, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Fatalf("step %d (+%d -%d pins): chains (-install +updates):\n%s", step, len(add), len(del), diff)
			}
		}
	}
}

// One pin added to or taken from 10,000 rewrites one leaf chain of each
// tree (and a parent when a chain comes or goes), in one script.
func TestIPTTreeUpdateOneLeaf(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pins := spreadPins(rng, 10001, 250)
	last := pins[len(pins)-1]
	set, err := newIPTPins(pins[:len(pins)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []struct {
		name     string
		add, del []Pin
	}{{"add", []Pin{last}, nil}, {"delete", nil, []Pin{pins[17]}}} {
		c, err := set.change(ch.add, ch.del)
		if err != nil {
			t.Fatal(err)
		}
		lines := updateScript(treeRules, set, c)
		var chains, rules int
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, ":"):
				chains++
			case strings.HasPrefix(l, "-A "):
				rules++
			}
		}
		// Three trees: a leaf each patched (no chain flushed) or a new
		// leaf and its parent's jump.
		if chains > 3 || rules > 9*2*iptLeafPins {
			t.Errorf("%s: %d chains, %d rules rewritten:\n%s", ch.name, chains, rules, strings.Join(lines, "\n"))
		}
	}
}

// A new flow of a LAN host without pins, in a /24 whose other hosts hold
// thousands of pins (a busy home LAN), leaves each tree after a few rules:
// within a /24 a level dispatches on 2 bits, so it walks at most 4 rules a
// level there.
func TestIPTTreeHostWithoutPins(t *testing.T) {
	var pins []Pin
	for i := range 10000 {
		priv := netip.AddrFrom4([4]byte{192, 168, 1, byte(20 + i%200)})
		pins = append(pins, Pin{Proto: conntrackmap.UDP, Private: netip.AddrPortFrom(priv, uint16(32768+i/200)),
			Public: netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 1}), uint16(1024+i))})
	}
	set, err := newIPTPins(pins)
	if err != nil {
		t.Fatal(err)
	}
	tr := treeRules.trees()[0] // NATP2P_POST's: by the private source
	v := set.view(false)
	worst, sum, n := 0, 0, 0
	for _, last := range []byte{1, 2, 10, 19, 220, 254} {
		p := Pin{Proto: conntrackmap.UDP, Private: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, last}), 40000)}
		cost, _ := walkCost(tr.t, v, tr.rules, pinKey(p.Proto, p, false))
		worst, sum, n = max(worst, cost), sum+cost, n+1
	}
	t.Logf("a flow of a host without pins walks %.1f rules of the tree on average, at most %d", float64(sum)/float64(n), worst)
	// 4-bit levels within the /24 made it 19 on average, up to 29.
	if worst > 14 || sum > 10*n {
		t.Errorf("a flow of a host without pins walks %.1f rules on average, up to %d; want at most 10 and 14",
			float64(sum)/float64(n), worst)
	}
}
