//go:build linux

package enforce

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// chainLines create (or flush) natp2p's chains in an iptables-restore
// script.
func chainLines() []string {
	var lines []string
	for _, c := range []string{IPTPost, IPTPre, IPTHair, IPTMasq} {
		lines = append(lines, ":"+c+" - [0:0]")
	}
	return lines
}

func deleteJumps(lines []string, chain, target string, n int) []string {
	for range n {
		lines = append(lines, "-D "+chain+" -j "+target)
	}
	return lines
}

// installHead is the head of Install's script: natp2p's chains created or
// flushed, the jumps that j lacks, and the chains and jumps r does without
// deleted.
func installHead(r Rules, j jumpCounts) []string {
	head := chainLines()
	if j.post == 0 {
		head = append(head, "-I POSTROUTING 1 -j "+IPTPost)
		j.postAt = 1
	}
	switch {
	case len(r.Preserve) == 0:
		head = append(deleteJumps(head, "POSTROUTING", IPTMasq, j.masq), "-X "+IPTMasq)
	default:
		if j.masq == 0 {
			head = append(head, fmt.Sprintf("-I POSTROUTING %d -j %s", j.postAt+1, IPTMasq))
		}
		for _, p := range r.Preserve {
			head = append(head, "-A "+IPTMasq+" -s "+p.String()+" -o "+r.WAN+" -j MASQUERADE")
		}
	}
	switch {
	case !r.Hairpin:
		head = deleteJumps(head, "PREROUTING", IPTPre, j.pre)
		head = append(deleteJumps(head, "POSTROUTING", IPTHair, j.hair), "-X "+IPTPre, "-X "+IPTHair)
	default:
		if j.pre == 0 {
			head = append(head, "-I PREROUTING 1 -j "+IPTPre)
		}
		if j.hair == 0 {
			head = append(head, fmt.Sprintf("-I POSTROUTING %d -j %s", j.postAt+1, IPTHair))
		}
	}
	return head
}

// restoreRun feeds iptables-restore --noflush a script of lines.
func (t *IPT) restoreRun(op string, lines []string) error {
	var b bytes.Buffer
	b.WriteString("*nat\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	if err := t.restoreScript(b.Bytes()); err != nil {
		return iptError(op, fmt.Errorf("%s: %w", filepath.Base(t.restore[0]), err))
	}
	return nil
}

// lines are the script's lines in the order iptables-restore needs.
func (s *iptScript) lines() []string {
	return slices.Concat(s.declare, s.del, s.flush, s.rules, s.drop)
}

// trees are the trees r makes, each with the rules of a pin in its leaves.
func (r Rules) trees() []struct {
	t     iptTree
	rules func(Pin) []string
} {
	type tr = struct {
		t     iptTree
		rules func(Pin) []string
	}
	trees := []tr{{treePost, r.postRules}}
	if r.Hairpin {
		trees = append(trees, tr{treeHair, r.hairRules}, tr{treePre, r.preRules})
	}
	return trees
}

// postRules are a pin's rules in NATP2P_POST's tree: the SNAT on the WAN,
// and for hairpinning that of hairpinned packets on each LAN.
func (r Rules) postRules(p Pin) []string {
	from := " -p " + p.Proto.String() + " -s " + p.Private.Addr().String() + " --sport " + strconv.Itoa(int(p.Private.Port())) +
		" -j SNAT --to-source " + p.Public.String()
	var rules []string
	if r.Mapping {
		rules = append(rules, "-o "+r.WAN+from)
	}
	if r.Hairpin {
		for _, lan := range r.LAN {
			// No input interface: under bridge netfilter, postrouting sees
			// none for a packet hairpinned within one bridge.
			rules = append(rules, "-o "+lan+" -m conntrack --ctstate DNAT"+from)
		}
	}
	return rules
}

// hairRules are a pin's rules in NATP2P_HAIR's tree, per LAN and LAN
// network: the SNAT of hairpinned packets whose sender has no pin.
func (r Rules) hairRules(p Pin) []string {
	pub, pubPort := p.Public.Addr().String(), strconv.Itoa(int(p.Public.Port()))
	var rules []string
	for _, lan := range r.LAN {
		for _, src := range r.Sources {
			// Only natp2p's own hairpin DNAT: the original destination is
			// the pin and the source a LAN host (a port forward's packets
			// keep their source).
			rules = append(rules, "-o "+lan+" -m conntrack --ctstate DNAT --ctorigsrc "+src.String()+" --ctorigdst "+pub+
				" --ctorigdstport "+pubPort+" -p "+p.Proto.String()+" -d "+p.Private.Addr().String()+
				" --dport "+strconv.Itoa(int(p.Private.Port()))+" -j SNAT --to-source "+pub)
		}
	}
	return rules
}

// preRules are a pin's rules in NATP2P_PRE's tree, per LAN and LAN
// network: the DNAT of packets to its public endpoint.
func (r Rules) preRules(p Pin) []string {
	var rules []string
	for _, lan := range r.LAN {
		for _, src := range r.Sources {
			rules = append(rules, "-i "+lan+" -s "+src.String()+" -p "+p.Proto.String()+" -d "+p.Public.Addr().String()+
				" --dport "+strconv.Itoa(int(p.Public.Port()))+" -j DNAT --to-destination "+p.Private.String())
		}
	}
	return rules
}

// installScript lays out every tree of pins, after head; the tree chains
// in old (the kernel's) that it does not use are deleted.
func installScript(r Rules, head []string, pins *iptPins, old []string) []string {
	var s iptScript
	for _, tr := range r.trees() {
		tr.t.writeAll(node{}, pins.view(tr.t.public), tr.rules, &s, nil)
	}
	roots := map[string]bool{IPTPost: true, IPTHair: true, IPTPre: true, IPTMasq: true}
	declare := s.declare[:0]
	for _, d := range s.declare {
		name := d[1:strings.IndexByte(d, ' ')]
		if !roots[name] {
			declare = append(declare, d)
		}
		roots[name] = true // declared: the new layout's
	}
	var extra iptScript
	for _, name := range old {
		if !roots[name] {
			extra.declare = append(extra.declare, ":"+name+" - [0:0]")
			extra.drop = append(extra.drop, "-X "+name)
		}
	}
	return slices.Concat(head, extra.declare, declare, s.rules, extra.drop)
}

// updateScript turns the trees from c's old pins into its new ones.
func updateScript(r Rules, old *iptPins, c *iptChange) []string {
	var s iptScript
	for _, tr := range r.trees() {
		changed, next := c.changedPriv, c.priv
		if tr.t.public {
			changed, next = c.changedPub, c.pub
		}
		tr.t.update(node{}, old.view(tr.t.public), next, changed, tr.rules, &s)
	}
	return s.lines()
}
