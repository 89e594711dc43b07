//go:build linux

package enforce

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
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

// restoreRun feeds iptables-restore --noflush the script of head, del and
// add.
func (t *IPT) restoreRun(op string, head []string, add, del []Pin) error {
	script, err := restoreScript(t.rules, head, add, del)
	if err != nil {
		return fmt.Errorf("iptables %s: %w", op, err)
	}
	if err := t.restoreScript(script); err != nil {
		return iptError(op, fmt.Errorf("%s: %w", filepath.Base(t.restore[0]), err))
	}
	return nil
}

// restoreScript is an iptables-restore --noflush script for the nat table:
// the head lines, then the deletion of del's rules, then the addition of
// add's.
func restoreScript(r Rules, head []string, add, del []Pin) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("*nat\n")
	for _, l := range head {
		b.WriteString(l + "\n")
	}
	for _, op := range []struct {
		cmd  string
		pins []Pin
	}{{"-D ", del}, {"-A ", add}} {
		for _, p := range op.pins {
			if !p.valid() {
				return nil, fmt.Errorf("bad pin %v", p)
			}
			for _, rule := range pinRules(r, p) {
				b.WriteString(op.cmd + rule + "\n")
			}
		}
	}
	b.WriteString("COMMIT\n")
	return b.Bytes(), nil
}

// pinRules are a pin's rules, each as a chain name and a rule spec.
func pinRules(r Rules, p Pin) []string {
	proto := " -p " + p.Proto.String()
	from := proto + " -s " + p.Private.Addr().String() + " --sport " + strconv.Itoa(int(p.Private.Port())) +
		" -j SNAT --to-source " + p.Public.String()
	var rules []string
	if r.Mapping {
		rules = append(rules, IPTPost+" -o "+r.WAN+from)
	}
	if !r.Hairpin {
		return rules
	}
	for _, lan := range r.LAN {
		// No input interface: under bridge netfilter, postrouting sees
		// none for a packet hairpinned within one bridge.
		rules = append(rules, IPTPost+" -o "+lan+" -m conntrack --ctstate DNAT"+from)
		for _, src := range r.Sources {
			rules = append(rules, hairpinRules(lan, src.String(), proto, p)...)
		}
	}
	return rules
}

// hairpinRules are a pin's rules for hairpinned packets from LAN network
// src: the SNAT for senders without a pin, and the DNAT of packets that
// arrive on lan.
func hairpinRules(lan, src, proto string, p Pin) []string {
	pub, pubPort := p.Public.Addr().String(), strconv.Itoa(int(p.Public.Port()))
	return []string{
		// Only natp2p's own hairpin DNAT: the original destination is the
		// pin and the source a LAN host (a port forward's packets keep
		// their source).
		IPTHair + " -o " + lan + " -m conntrack --ctstate DNAT --ctorigsrc " + src + " --ctorigdst " + pub +
			" --ctorigdstport " + pubPort + proto + " -d " + p.Private.Addr().String() +
			" --dport " + strconv.Itoa(int(p.Private.Port())) + " -j SNAT --to-source " + pub,
		IPTPre + " -i " + lan + " -s " + src + proto + " -d " + pub + " --dport " + pubPort +
			" -j DNAT --to-destination " + p.Private.String(),
	}
}
