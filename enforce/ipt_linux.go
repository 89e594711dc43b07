//go:build linux

package enforce

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// natp2p's chains in the iptables nat table. Nothing else of the ruleset is
// touched but the one jump to each, inserted first in POSTROUTING and
// PREROUTING so that it runs before the router's masquerade and port
// forwards.
const (
	IPTPost = "NATP2P_POST" // SNAT to the pins
	IPTPre  = "NATP2P_PRE"  // hairpin DNAT
	// IPTHair SNATs a hairpinned packet whose sender has no pin to its
	// target's public address: jumped right after NATP2P_POST, so that a
	// sender's own pin, in NATP2P_POST, wins.
	IPTHair = "NATP2P_HAIR"
	// IPTMasq masquerades new flows of Rules.Preserve's sources without a
	// pin, keeping their ports: jumped right after NATP2P_POST, so that a
	// pin wins, and before the router's own rules.
	IPTMasq = "NATP2P_MASQ"
)

// iptWait bounds, in seconds, the wait for the xtables lock: a stuck holder
// then makes a call fail, and the caller retries, instead of hanging.
const iptWait = 10

// IPT is the iptables backend, for routers without nftables (fw3):
//
//	-I POSTROUTING 1 -j NATP2P_POST
//	-I POSTROUTING 2 -j NATP2P_HAIR (hairpinning)
//	-I PREROUTING 1 -j NATP2P_PRE   (hairpinning)
//	per pin, in NATP2P_POST:
//	    -o WAN -p P -s PRIV_IP --sport PRIV_PORT -j SNAT --to-source PUB   (mapping)
//	    -o LAN -m conntrack --ctstate DNAT -p P -s PRIV_IP --sport PRIV_PORT -j SNAT --to-source PUB
//	in NATP2P_HAIR (hairpinning, senders without a pin), per LAN network NET:
//	    -o LAN -m conntrack --ctstate DNAT --ctorigsrc NET --ctorigdst PUB_IP --ctorigdstport PUB_PORT -p P -d PRIV_IP --dport PRIV_PORT -j SNAT --to-source PUB_IP
//	and in NATP2P_PRE (hairpinning), per LAN network NET:
//	    -i LAN -s NET -p P -d PUB_IP --dport PUB_PORT -j DNAT --to-destination PRIV
//	with Rules.Preserve, -I POSTROUTING 2 -j NATP2P_MASQ and, per prefix:
//	    -s PREFIX -o WAN -j MASQUERADE
//
// iptables has no maps: the kernel walks the rules linearly for each new
// flow. Rules are loaded with one iptables-restore --noflush per call, as one
// exec per rule is far too slow for thousands of pins.
//
// It runs the iptables tools itself rather than through go-iptables: that
// library's regexp costs the mipsle binary about 150 KB, which the 5 MB
// budget cannot spare, and the backend needs only `iptables -S` and
// iptables-restore. It runs them through an iptRunner, and tells their
// failures apart by exit status (iptExitError).
type IPT struct {
	rules   Rules
	run     iptRunner // runs the tools: execRunner, or a fake in tests
	list    []string  // iptables' path and options, for -t nat -S CHAIN
	restore []string  // iptables-restore's path and options
	// nft: iptables-nft, whose tables are nf_tables tables; nat reads and
	// deletes its nat table's objects (nil: over netlink).
	nft bool
	nat natObjects
	// stamper, when set, lets Installed skip listing while the ruleset
	// is unchanged (iptcheck_linux.go); guard holds what it trusts.
	stamper iptStamper
	guard   iptGuard
	// mu guards pins: what the trees in the kernel hold, as Install, Pins
	// and the updates since left it.
	mu   sync.Mutex
	pins *iptPins
}

// NewIPT returns the iptables backend. It runs iptables --version only.
func NewIPT(r Rules) (*IPT, error) {
	t, err := newIPT(r, execRunner{})
	if err == nil && os.Getenv(IPTListAlwaysEnv) == "" {
		t.stamper = newIPTStamper(t.nft)
	}
	return t, err
}

// IPTListAlwaysEnv, set to anything, makes the rule check list the nat
// table every time, as before the cheap checks: for measuring them
// (natp2p-lab bench-enforce) and as a way out should a kernel's stamp
// mislead.
const IPTListAlwaysEnv = "NATP2P_IPT_LIST_ALWAYS"

// newIPT returns the iptables backend that runs the tools through run.
// It finds iptables, and iptables-restore next to it so that both are of
// the same flavour (legacy or nf_tables) even when PATH mixes them, and
// passes -w to both when iptables-restore takes it.
func newIPT(r Rules, run iptRunner) (*IPT, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	path, err := run.LookPath("iptables")
	if err != nil {
		return nil, iptError("start", err)
	}
	version, err := run.Run([]string{path, "--version"}, nil)
	if err != nil {
		return nil, iptError("start", err)
	}
	restore, err := run.LookPath(filepath.Join(filepath.Dir(path), "iptables-restore"))
	if err != nil {
		if restore, err = run.LookPath("iptables-restore"); err != nil {
			return nil, iptError("start", err)
		}
	}
	list, args := []string{path}, []string{restore, "--noflush"}
	if v1, v2, v3 := parseVersion(string(version)); restoreHasWait(v1, v2, v3) {
		// iptables waits for the lock with -w since 1.4.20, restore since 1.6.2.
		list = append(list, "-w", strconv.Itoa(iptWait))
		args = append(args, "-w", strconv.Itoa(iptWait))
	}
	return &IPT{rules: r, run: run, list: list, restore: args, nft: strings.Contains(string(version), "(nf_tables)")}, nil
}

// parseVersion reads "iptables v1.8.9 (nf_tables)".
func parseVersion(s string) (v1, v2, v3 int) {
	i := strings.Index(s, " v")
	if i < 0 {
		return 0, 0, 0
	}
	f := strings.FieldsFunc(s[i+2:], func(r rune) bool { return r == '.' || r == ' ' || r == '\n' })
	nums := []*int{&v1, &v2, &v3}
	for j := 0; j < len(f) && j < 3; j++ {
		*nums[j], _ = strconv.Atoi(f[j])
	}
	return v1, v2, v3
}

// restoreHasWait: iptables-restore takes -w since 1.6.2.
func restoreHasWait(v1, v2, v3 int) bool {
	return v1 > 1 || v1 == 1 && (v2 > 6 || v2 == 6 && v3 >= 2)
}

// Name implements Backend.
func (t *IPT) Name() string { return NameIptables }

// Install implements Backend, in one iptables-restore transaction: a chain
// line creates a chain or flushes it, so there is no instant without rules.
// Jumps are added only where missing; without hairpinning a NATP2P_PRE
// left from an earlier run goes, and so does every tree chain of natp2p's
// the new layout does without. It lists the whole nat table once.
func (t *IPT) Install(pins []Pin) error {
	set, err := newIPTPins(pins)
	if err != nil {
		return fmt.Errorf("iptables install: %w", err)
	}
	lines, err := t.listChain("")
	if err != nil {
		return iptError("install", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pins = nil // unknown until this succeeds
	if err := t.restoreRun("install", installScript(t.rules, installHead(t.rules, countJumps(lines)), set, treeChains(lines))); err != nil {
		return err
	}
	t.pins = set
	return nil
}

// Update implements Backend, in one transaction that rewrites only the
// tree chains whose rules change: deletions first, so that a pin can move
// in one call. A pin to delete that is not installed fails it all, and so
// does any update before Install or Pins told what the kernel holds.
func (t *IPT) Update(add, del []Pin) error {
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pins == nil {
		return errors.New("iptables update: the rules in the kernel are unknown")
	}
	c, err := t.pins.change(add, del)
	if err != nil {
		return fmt.Errorf("iptables update: %w", err)
	}
	if err := t.restoreRun("update", updateScript(t.rules, t.pins, c)); err != nil {
		t.pins = nil // the kernel is unknown: Install or Pins tells again
		return err
	}
	c.commit()
	return nil
}

// Installed implements Backend: the jumps are there (a jump implies its
// chain). One iptables -S of POSTROUTING, and of PREROUTING when
// hairpinning: it is polled, so with a stamper it lists only when the
// ruleset changed since the rules were last known complete.
func (t *IPT) Installed() (bool, error) {
	s, stamped, ok := t.installedCached()
	if ok {
		return true, nil
	}
	j, err := t.jumps(t.rules.Hairpin)
	if err != nil {
		return false, iptError("list", err)
	}
	ok = j.post > 0 && (!t.rules.Hairpin || j.pre > 0 && j.hair > 0) &&
		(len(t.rules.Preserve) == 0 || j.masq > 0)
	if stamped {
		t.guard.record(s, ok)
	}
	return ok, nil
}

// Pins implements Backend: the WAN SNAT rules of NATP2P_POST's tree, or
// without them (no Mapping) the first LAN's hairpin SNAT rules. It lists
// the whole nat table, and from then on updates lay out against what it
// read.
func (t *IPT) Pins() ([]Pin, error) {
	if pins, ok := t.heldPins(); ok {
		return pins, nil
	}
	lines, err := t.listChain("")
	if err != nil {
		return nil, iptError("list", err)
	}
	oif, dnat := t.rules.WAN, false
	if !t.rules.Mapping {
		oif, dnat = t.rules.LAN[0], true
	}
	var pins []Pin
	for _, l := range lines {
		if p, ok := parsePinRule(l, oif, dnat); ok {
			pins = append(pins, p)
		}
	}
	sortPins(pins)
	set, _ := newIPTPins(pins) // nil for clashing rules, not natp2p's: updates wait for Install
	t.mu.Lock()
	t.pins = set
	t.mu.Unlock()
	return pins, nil
}

// RandomNAT reports whether a source NAT rule of the router's (not
// natp2p's) for the WAN picks ports at random (--random or --random-fully:
// either skips port preservation): a flow sent to a second destination
// before its endpoint's pin is in place then gets another port, unless
// Rules.Preserve covers it. Only with mapping enforcement, which that
// defeats.
func (t *IPT) RandomNAT() (bool, error) {
	if len(t.rules.Preserve) > 0 || !t.rules.Mapping {
		return false, nil
	}
	lines, err := t.listChain("")
	if err != nil {
		return false, iptError("list", err)
	}
	return randomNAT(lines, t.rules.WAN), nil
}

// Remove implements Backend: every jump to the chains, then the chains
// (the roots and every tree chain), in one transaction (the chain lines
// create what is missing, so that -X always finds it).
func (t *IPT) Remove() error {
	lines, err := t.listChain("")
	if err != nil {
		return iptError("remove", err)
	}
	var declare, drop []string
	for _, name := range append([]string{IPTPost, IPTPre, IPTHair, IPTMasq}, treeChains(lines)...) {
		declare, drop = append(declare, ":"+name+" - [0:0]"), append(drop, "-X "+name)
	}
	j := countJumps(lines)
	for _, jump := range []struct {
		chain, target string
		n             int
	}{{"POSTROUTING", IPTPost, j.post}, {"POSTROUTING", IPTHair, j.hair}, {"POSTROUTING", IPTMasq, j.masq}, {"PREROUTING", IPTPre, j.pre}} {
		declare = deleteJumps(declare, jump.chain, jump.target, jump.n)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pins = nil
	err = t.restoreRun("remove", append(declare, drop...))
	t.guard.wrote("", "", false) // the rules are gone
	return err
}
