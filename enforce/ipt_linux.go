//go:build linux

package enforce

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/natp2p/natp2p/conntrackmap"
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
//	in NATP2P_HAIR (hairpinning, senders without a pin):
//	    -o LAN -m conntrack --ctstate DNAT --ctorigdst PUB_IP --ctorigdstport PUB_PORT -p P -d PRIV_IP --dport PRIV_PORT -j SNAT --to-source PUB_IP
//	and in NATP2P_PRE (hairpinning):
//	    -i LAN -p P -d PUB_IP --dport PUB_PORT -j DNAT --to-destination PRIV
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
// iptables-restore.
type IPT struct {
	rules   Rules
	list    []string // iptables' path and options, for -t nat -S CHAIN
	restore []string // iptables-restore's path and options
}

// NewIPT returns the iptables backend. It runs iptables --version only.
func NewIPT(r Rules) (*IPT, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	path, err := exec.LookPath("iptables")
	if err != nil {
		return nil, iptError("start", err)
	}
	version, err := exec.Command(path, "--version").Output()
	if err != nil {
		return nil, iptError("start", err)
	}
	// iptables-restore next to iptables, so that both are of the same
	// flavour (legacy or nf_tables) even when PATH mixes them.
	restore, err := exec.LookPath(filepath.Join(filepath.Dir(path), "iptables-restore"))
	if err != nil {
		if restore, err = exec.LookPath("iptables-restore"); err != nil {
			return nil, iptError("start", err)
		}
	}
	list, args := []string{path}, []string{restore, "--noflush"}
	if v1, v2, v3 := parseVersion(string(version)); restoreHasWait(v1, v2, v3) {
		// iptables waits for the lock with -w since 1.4.20, restore since 1.6.2.
		list = append(list, "-w", strconv.Itoa(iptWait))
		args = append(args, "-w", strconv.Itoa(iptWait))
	}
	return &IPT{rules: r, list: list, restore: args}, nil
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

// errNoChain: iptables -S of a chain that does not exist.
var errNoChain = errors.New("no such chain")

// listChain runs iptables -t nat -S chain (every chain if chain is empty)
// and returns its lines. A missing
// chain exits with 1 (iptables-nft 1.8.9 calls it "incompatible"); no
// permission, the lock and no nat table exit with 3 or 4.
func (t *IPT) listChain(chain string) ([]string, error) {
	args := append(append([]string{}, t.list[1:]...), "-t", "nat", "-S")
	if chain != "" {
		args = append(args, chain)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(t.list[0], args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return nil, errNoChain
	case err != nil:
		return nil, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), nil
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
// left from an earlier run goes.
func (t *IPT) Install(pins []Pin) error {
	j, err := t.jumps(true)
	if err != nil {
		return iptError("install", err)
	}
	head := chainLines()
	if j.post == 0 {
		head = append(head, "-I POSTROUTING 1 -j "+IPTPost)
		j.postAt = 1
	}
	switch {
	case len(t.rules.Preserve) == 0:
		head = append(deleteJumps(head, "POSTROUTING", IPTMasq, j.masq), "-X "+IPTMasq)
	default:
		if j.masq == 0 {
			head = append(head, fmt.Sprintf("-I POSTROUTING %d -j %s", j.postAt+1, IPTMasq))
		}
		for _, p := range t.rules.Preserve {
			head = append(head, "-A "+IPTMasq+" -s "+p.String()+" -o "+t.rules.WAN+" -j MASQUERADE")
		}
	}
	switch {
	case !t.rules.Hairpin:
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
	return t.run("install", head, pins, nil)
}

// Update implements Backend, in one transaction: deletions first, so that a
// pin can move in one call. A rule to delete that is missing fails it all.
func (t *IPT) Update(add, del []Pin) error {
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	return t.run("update", nil, add, del)
}

// Installed implements Backend: the jumps are there (a jump implies its
// chain). One iptables -S of POSTROUTING, and of PREROUTING when
// hairpinning: it is polled.
func (t *IPT) Installed() (bool, error) {
	j, err := t.jumps(t.rules.Hairpin)
	if err != nil {
		return false, iptError("list", err)
	}
	return j.post > 0 && (!t.rules.Hairpin || j.pre > 0 && j.hair > 0) &&
		(len(t.rules.Preserve) == 0 || j.masq > 0), nil
}

// Pins implements Backend: the WAN SNAT rules of NATP2P_POST, or without
// them (no Mapping) the first LAN's hairpin SNAT rules.
func (t *IPT) Pins() ([]Pin, error) {
	lines, err := t.listChain(IPTPost)
	if errors.Is(err, errNoChain) {
		return nil, nil
	}
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

func randomNAT(lines []string, wan string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, "-A ") || strings.HasPrefix(l, "-A NATP2P_") {
			continue
		}
		f := strings.Fields(l)
		snat := slices.Contains(f, "SNAT") || slices.Contains(f, "MASQUERADE")
		random := slices.Contains(f, "--random") || slices.Contains(f, "--random-fully")
		// No -o: every interface, the WAN too. "! -o WAN" is not the WAN.
		i := slices.Index(f, "-o")
		toWAN := i < 0 || i+1 < len(f) && f[i+1] == wan && (i == 0 || f[i-1] != "!")
		if snat && random && toWAN {
			return true
		}
	}
	return false
}

// Remove implements Backend: every jump to the chains, then the chains, in
// one transaction (the chain lines create what is missing, so that -X
// always finds it).
func (t *IPT) Remove() error {
	j, err := t.jumps(true)
	if err != nil {
		return iptError("remove", err)
	}
	head := deleteJumps(chainLines(), "POSTROUTING", IPTPost, j.post)
	head = deleteJumps(head, "POSTROUTING", IPTHair, j.hair)
	head = deleteJumps(head, "POSTROUTING", IPTMasq, j.masq)
	head = deleteJumps(head, "PREROUTING", IPTPre, j.pre)
	return t.run("remove", append(head, "-X "+IPTPost, "-X "+IPTPre, "-X "+IPTHair, "-X "+IPTMasq), nil, nil)
}

// chainLines create (or flush) natp2p's chains in an iptables-restore
// script.
func chainLines() []string {
	var lines []string
	for _, c := range []string{IPTPost, IPTPre, IPTHair, IPTMasq} {
		lines = append(lines, ":"+c+" - [0:0]")
	}
	return lines
}

// jumpCounts are the jumps to natp2p's chains, and the position (among
// POSTROUTING's rules, from 1) of the first jump to NATP2P_POST.
type jumpCounts struct {
	post, hair, masq, pre, postAt int
}

// jumps counts the jumps to natp2p's chains; PREROUTING is listed only
// with pre.
func (t *IPT) jumps(pre bool) (j jumpCounts, err error) {
	lines, err := t.listChain("POSTROUTING")
	if err != nil {
		return j, err
	}
	n := 0
	for _, l := range lines {
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
	if !pre {
		return j, nil
	}
	j.pre, err = t.countJumps("PREROUTING", IPTPre)
	return j, err
}

func (t *IPT) countJumps(chain, target string) (int, error) {
	lines, err := t.listChain(chain)
	n := 0
	for _, l := range lines {
		if l == "-A "+chain+" -j "+target {
			n++
		}
	}
	return n, err
}

func deleteJumps(lines []string, chain, target string, n int) []string {
	for range n {
		lines = append(lines, "-D "+chain+" -j "+target)
	}
	return lines
}

// run feeds iptables-restore --noflush the script of head, del and add.
func (t *IPT) run(op string, head []string, add, del []Pin) error {
	script, err := restoreScript(t.rules, head, add, del)
	if err != nil {
		return fmt.Errorf("iptables %s: %w", op, err)
	}
	cmd := exec.Command(t.restore[0], t.restore[1:]...)
	cmd.Stdin = bytes.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return iptError(op, fmt.Errorf("%s: %w: %s", filepath.Base(t.restore[0]), err, oneLine(out.String())))
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
		rules = append(rules,
			IPTPost+" -o "+lan+" -m conntrack --ctstate DNAT"+from,
			// Only natp2p's own hairpin DNAT: the original destination is
			// the pin (a port forward's packets keep their source).
			IPTHair+" -o "+lan+" -m conntrack --ctstate DNAT --ctorigdst "+p.Public.Addr().String()+
				" --ctorigdstport "+strconv.Itoa(int(p.Public.Port()))+proto+" -d "+p.Private.Addr().String()+
				" --dport "+strconv.Itoa(int(p.Private.Port()))+" -j SNAT --to-source "+p.Public.Addr().String(),
			IPTPre+" -i "+lan+proto+" -d "+p.Public.Addr().String()+" --dport "+strconv.Itoa(int(p.Public.Port()))+
				" -j DNAT --to-destination "+p.Private.String())
	}
	return rules
}

// parsePinRule reads a pin from an SNAT rule of NATP2P_POST as iptables -S
// prints it, on output to oif, with the hairpin conntrack match or without
// as dnat says:
//
//	-A NATP2P_POST -s 10.0.0.1/32 -o wan0 -p udp -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000
//	-A NATP2P_POST -s 10.0.0.1/32 -o br-lan -p udp -m conntrack --ctstate DNAT -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000
//
// Any other option (a negation, another match) makes it no pin rule.
func parsePinRule(line, oif string, dnat bool) (Pin, bool) {
	f := strings.Fields(line)
	if len(f)%2 != 0 {
		return Pin{}, false
	}
	var (
		p          Pin
		src        netip.Addr
		sport      uint64
		match      string
		ct, state  bool
		seen, want = 0, 0x7f
		err        error
	)
	for i := 0; i < len(f) && err == nil; i += 2 {
		k, v := f[i], f[i+1]
		switch k {
		case "-A":
			seen |= bitIf(v == IPTPost, 1)
		case "-o":
			seen |= bitIf(v == oif, 2)
		case "-s":
			var pfx netip.Prefix
			if pfx, err = netip.ParsePrefix(v); err == nil && pfx.IsSingleIP() {
				src, seen = pfx.Addr(), seen|4
			}
		case "-p":
			switch v {
			case "udp":
				p.Proto, seen = conntrackmap.UDP, seen|8
			case "tcp":
				p.Proto, seen = conntrackmap.TCP, seen|8
			}
		case "-m":
			if v == "conntrack" {
				ct = true
			} else {
				match = v
			}
		case "--ctstate":
			state = v == "DNAT"
		case "--sport":
			sport, err = strconv.ParseUint(v, 10, 16)
			seen |= 16
		case "-j":
			seen |= bitIf(v == "SNAT", 32)
		case "--to-source":
			p.Public, err = netip.ParseAddrPort(v)
			seen |= 64
		default:
			return Pin{}, false
		}
	}
	if err != nil || seen != want || match != "" && match != p.Proto.String() || ct != dnat || state != dnat {
		return Pin{}, false
	}
	p.Private = netip.AddrPortFrom(src, uint16(sport))
	if !p.valid() {
		return Pin{}, false
	}
	return p, true
}

func bitIf(ok bool, bit int) int {
	if ok {
		return bit
	}
	return 0
}

// iptError names the operation and turns the common failures into advice.
func iptError(op string, err error) error {
	if err == nil {
		return nil
	}
	msg := oneLine(err.Error())
	lower := strings.ToLower(msg)
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("iptables %s: %v (install iptables, or use --backend nftables)", op, err)
	case strings.Contains(lower, "permission denied"):
		return fmt.Errorf("iptables %s: permission denied (run as root)", op)
	case strings.Contains(lower, "table does not exist") || strings.Contains(lower, "table 'nat' does not exist"):
		return fmt.Errorf("iptables %s: the kernel has no iptables nat table (load iptable_nat, or use --backend nftables)", op)
	}
	return fmt.Errorf("iptables %s: %s", op, msg)
}

// oneLine joins a tool's output lines, without its usage hints.
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Try `") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
