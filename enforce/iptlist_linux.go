//go:build linux

package enforce

import (
	"errors"
	"strings"
)

// errNoChain: iptables -S of a chain that does not exist.
var errNoChain = errors.New("no such chain")

// listChain runs iptables -t nat -S chain (every chain if chain is empty)
// and returns its lines. A missing chain exits with iptExitOther
// (iptables-nft 1.8.9 calls it "incompatible"): errNoChain.
func (t *IPT) listChain(chain string) ([]string, error) {
	argv := append(append([]string{}, t.list...), "-t", "nat", "-S")
	if chain != "" {
		argv = append(argv, chain)
	}
	out, err := t.run.Run(argv, nil)
	var exit *iptExitError
	switch {
	case errors.As(err, &exit) && exit.Code == iptExitOther:
		return nil, errNoChain
	case err != nil:
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), nil
}

// jumpCounts are the jumps to natp2p's chains, and the position (among
// POSTROUTING's rules, from 1) of the first jump to NATP2P_POST.
type jumpCounts struct {
	post, hair, masq, pre, postAt int
}

// jumps counts the jumps to natp2p's chains; PREROUTING is listed only
// with pre.
func (t *IPT) jumps(pre bool) (jumpCounts, error) {
	lines, err := t.listChain("POSTROUTING")
	if err != nil {
		return jumpCounts{}, err
	}
	if pre {
		more, err := t.listChain("PREROUTING")
		if err != nil {
			return jumpCounts{}, err
		}
		lines = append(lines, more...)
	}
	return countJumps(lines), nil
}

// countJumps counts the jumps to natp2p's chains in lines of iptables -S.
func countJumps(lines []string) (j jumpCounts) {
	n := 0
	for _, l := range lines {
		switch l {
		case "-A PREROUTING -j " + IPTPre:
			j.pre++
		}
		if !strings.HasPrefix(l, "-A POSTROUTING ") {
			continue
		}
		n++
		switch l {
		case "-A POSTROUTING -j " + IPTPost:
			if j.post++; j.postAt == 0 {
				j.postAt = n
			}
		case "-A POSTROUTING -j " + IPTHair:
			j.hair++
		case "-A POSTROUTING -j " + IPTMasq:
			j.masq++
		}
	}
	return j
}

// treeChains are the tree chains of natp2p's that lines of iptables -S
// create.
func treeChains(lines []string) []string {
	var names []string
	for _, l := range lines {
		if name, ok := strings.CutPrefix(l, "-N "); ok && iptTreeChain(name) {
			names = append(names, name)
		}
	}
	return names
}
