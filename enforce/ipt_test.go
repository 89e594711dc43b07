//go:build linux

package enforce

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/natp2p/natp2p/conntrackmap"
)

// lanNets are the LAN networks of the tests' hairpin rules.
var lanNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("192.168.2.0/24")}

// With at most iptLeafPins pins, each tree is its root chain holding the
// pins' rules, as one chain held them before the trees.
func TestInstallScriptFlat(t *testing.T) {
	pin := Pin{conntrackmap.UDP, netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("203.0.113.1:40000")}
	moved := Pin{conntrackmap.TCP, netip.MustParseAddrPort("10.0.0.2:6000"), netip.MustParseAddrPort("203.0.113.1:41000")}
	wanOnly := Rules{WAN: "wan0", Mapping: true}
	hairpin := Rules{WAN: "wan0", LAN: []string{"br-lan", "lan2"}, Sources: lanNets, Mapping: true, Hairpin: true}
	hairpinOnly := Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lanNets[:1], Hairpin: true}
	tests := []struct {
		name string
		r    Rules
		head []string
		pins []Pin
		old  []string // tree chains in the kernel
		want []string
	}{
		{name: "empty", r: wanOnly},
		{name: "head only", r: wanOnly, head: []string{":NATP2P_POST - [0:0]"}, want: []string{":NATP2P_POST - [0:0]"}},
		{name: "wan", r: wanOnly, pins: []Pin{pin}, want: []string{
			"-A NATP2P_POST -o wan0 -p udp -s 10.0.0.1 --sport 5000 -j SNAT --to-source 203.0.113.1:40000",
		}},
		{name: "hairpin", r: hairpin, pins: []Pin{moved}, want: []string{
			"-A NATP2P_POST -o wan0 -p tcp -s 10.0.0.2 --sport 6000 -j SNAT --to-source 203.0.113.1:41000",
			"-A NATP2P_POST -o br-lan -m conntrack --ctstate DNAT -p tcp -s 10.0.0.2 --sport 6000 -j SNAT --to-source 203.0.113.1:41000",
			"-A NATP2P_POST -o lan2 -m conntrack --ctstate DNAT -p tcp -s 10.0.0.2 --sport 6000 -j SNAT --to-source 203.0.113.1:41000",
			"-A NATP2P_HAIR -o br-lan -m conntrack --ctstate DNAT --ctorigsrc 10.0.0.0/24 --ctorigdst 203.0.113.1 --ctorigdstport 41000 -p tcp -d 10.0.0.2 --dport 6000 -j SNAT --to-source 203.0.113.1",
			"-A NATP2P_HAIR -o br-lan -m conntrack --ctstate DNAT --ctorigsrc 192.168.2.0/24 --ctorigdst 203.0.113.1 --ctorigdstport 41000 -p tcp -d 10.0.0.2 --dport 6000 -j SNAT --to-source 203.0.113.1",
			"-A NATP2P_HAIR -o lan2 -m conntrack --ctstate DNAT --ctorigsrc 10.0.0.0/24 --ctorigdst 203.0.113.1 --ctorigdstport 41000 -p tcp -d 10.0.0.2 --dport 6000 -j SNAT --to-source 203.0.113.1",
			"-A NATP2P_HAIR -o lan2 -m conntrack --ctstate DNAT --ctorigsrc 192.168.2.0/24 --ctorigdst 203.0.113.1 --ctorigdstport 41000 -p tcp -d 10.0.0.2 --dport 6000 -j SNAT --to-source 203.0.113.1",
			"-A NATP2P_PRE -i br-lan -s 10.0.0.0/24 -p tcp -d 203.0.113.1 --dport 41000 -j DNAT --to-destination 10.0.0.2:6000",
			"-A NATP2P_PRE -i br-lan -s 192.168.2.0/24 -p tcp -d 203.0.113.1 --dport 41000 -j DNAT --to-destination 10.0.0.2:6000",
			"-A NATP2P_PRE -i lan2 -s 10.0.0.0/24 -p tcp -d 203.0.113.1 --dport 41000 -j DNAT --to-destination 10.0.0.2:6000",
			"-A NATP2P_PRE -i lan2 -s 192.168.2.0/24 -p tcp -d 203.0.113.1 --dport 41000 -j DNAT --to-destination 10.0.0.2:6000",
		}},
		{name: "hairpin only", r: hairpinOnly, pins: []Pin{pin}, want: []string{
			"-A NATP2P_POST -o br-lan -m conntrack --ctstate DNAT -p udp -s 10.0.0.1 --sport 5000 -j SNAT --to-source 203.0.113.1:40000",
			"-A NATP2P_HAIR -o br-lan -m conntrack --ctstate DNAT --ctorigsrc 10.0.0.0/24 --ctorigdst 203.0.113.1 --ctorigdstport 40000 -p udp -d 10.0.0.1 --dport 5000 -j SNAT --to-source 203.0.113.1",
			"-A NATP2P_PRE -i br-lan -s 10.0.0.0/24 -p udp -d 203.0.113.1 --dport 40000 -j DNAT --to-destination 10.0.0.1:5000",
		}},
		{name: "an old layout's chains go", r: wanOnly, pins: []Pin{pin}, old: []string{"NATP2P_SU", "NATP2P_SU_0a00"}, want: []string{
			":NATP2P_SU - [0:0]", ":NATP2P_SU_0a00 - [0:0]",
			"-A NATP2P_POST -o wan0 -p udp -s 10.0.0.1 --sport 5000 -j SNAT --to-source 203.0.113.1:40000",
			"-X NATP2P_SU", "-X NATP2P_SU_0a00",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := newIPTPins(tt.pins)
			if err != nil {
				t.Fatal(err)
			}
			got := installScript(tt.r, tt.head, set, tt.old)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("script (-want +got):\n%s", diff)
			}
		})
	}
}

// Pins that cannot go in, or clash, fail before any script.
func TestIPTPinsInvalid(t *testing.T) {
	pin := Pin{conntrackmap.UDP, netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("203.0.113.1:40000")}
	other := Pin{conntrackmap.UDP, netip.MustParseAddrPort("10.0.0.2:5000"), pin.Public}
	for _, tt := range []struct {
		name string
		pins []Pin
	}{
		{"ipv6 pin", []Pin{{conntrackmap.UDP, netip.MustParseAddrPort("[fd00::1]:5000"), pin.Public}}},
		{"port 0", []Pin{{conntrackmap.UDP, pin.Private, netip.MustParseAddrPort("203.0.113.1:0")}}},
		{"icmp", []Pin{{1, pin.Private, pin.Public}}},
		{"one private endpoint twice", []Pin{pin, {pin.Proto, pin.Private, netip.MustParseAddrPort("203.0.113.1:40001")}}},
		{"one public endpoint twice", []Pin{pin, other}},
	} {
		if _, err := newIPTPins(tt.pins); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
		set, _ := newIPTPins(nil)
		if _, err := set.change(tt.pins, nil); err == nil {
			t.Errorf("%s: no error adding them", tt.name)
		}
	}
	set, _ := newIPTPins([]Pin{pin})
	if _, err := set.change(nil, []Pin{other}); err == nil {
		t.Error("deleting a pin not installed: no error")
	}
}

// Lines as iptables -S NATP2P_POST prints them (iptables 1.8.9, nf_tables
// and legacy alike), after the rules of TestRestoreScript.
func TestParsePinRule(t *testing.T) {
	pin := Pin{conntrackmap.UDP, netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("203.0.113.1:40000")}
	const (
		wan     = "-A NATP2P_POST -s 10.0.0.1/32 -o wan0 -p udp -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000"
		hairpin = "-A NATP2P_POST -s 10.0.0.1/32 -o br-lan -p udp -m conntrack --ctstate DNAT -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000"
	)
	tests := []struct {
		line string
		oif  string
		dnat bool
		want Pin
	}{
		{wan, "wan0", false, pin},
		{"-A NATP2P_POST -s 10.0.0.2/32 -o wan0 -p tcp -m tcp --sport 6000 -j SNAT --to-source 203.0.113.1:41000", "wan0", false,
			Pin{conntrackmap.TCP, netip.MustParseAddrPort("10.0.0.2:6000"), netip.MustParseAddrPort("203.0.113.1:41000")}},
		{hairpin, "br-lan", true, pin},
		// A leaf of NATP2P_POST's tree; not one of HAIR's or PRE's.
		{strings.Replace(wan, "NATP2P_POST", "NATP2P_SU_0a000001", 1), "wan0", false, pin},
		{strings.Replace(wan, "NATP2P_POST", "NATP2P_DU_0a000001", 1), "wan0", false, Pin{}},
		{strings.Replace(wan, "NATP2P_POST", "NATP2P_RU", 1), "wan0", false, Pin{}},
		{strings.Replace(wan, "NATP2P_POST", "NATP2P_SX", 1), "wan0", false, Pin{}},
		// Hairpin rules when reading WAN ones and back, other chains and
		// interfaces.
		{hairpin, "wan0", false, Pin{}},
		{hairpin, "br-lan", false, Pin{}},
		{wan, "wan0", true, Pin{}},
		{wan, "wan1", false, Pin{}},
		{"-A NATP2P_POST -s 10.0.0.1/32 -o br-lan -p udp -m conntrack --ctstate SNAT -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000", "br-lan", true, Pin{}},
		{"-A NATP2P_PRE -d 203.0.113.1/32 -i br-lan -p udp -m udp --dport 40000 -j DNAT --to-destination 10.0.0.1:5000", "br-lan", true, Pin{}},
		{"-N NATP2P_POST", "wan0", false, Pin{}},
		{"-A POSTROUTING -j NATP2P_POST", "wan0", false, Pin{}},
		{strings.Replace(wan, "NATP2P_POST", "POSTROUTING", 1), "wan0", false, Pin{}},
		// Not of ours: masquerade, a range, a subnet, a negation, a missing
		// or zero port, a protocol mismatch.
		{"-A NATP2P_POST -o wan0 -j MASQUERADE --random-fully", "wan0", false, Pin{}},
		{wan + "-40010", "wan0", false, Pin{}},
		{strings.Replace(wan, "/32", "/24", 1), "wan0", false, Pin{}},
		{strings.Replace(wan, "-s", "! -s", 1), "wan0", false, Pin{}},
		{strings.Replace(wan, " -m udp --sport 5000", "", 1), "wan0", false, Pin{}},
		{strings.Replace(wan, "--sport 5000", "--sport 0", 1), "wan0", false, Pin{}},
		{strings.Replace(wan, "-m udp", "-m tcp", 1), "wan0", false, Pin{}},
		{"", "wan0", false, Pin{}},
	}
	for _, tt := range tests {
		got, ok := parsePinRule(tt.line, tt.oif, tt.dnat)
		if ok != (tt.want != Pin{}) || !cmp.Equal(got, tt.want, equateNet) {
			t.Errorf("parsePinRule(%q, %s, %v) = %v, %v; want %v", tt.line, tt.oif, tt.dnat, got, ok, tt.want)
		}
	}
}

// Every rule of a pin reads back as the pin, once: the WAN rule, or without
// mapping the first LAN's hairpin rule.
func TestParsePinRuleRoundTrip(t *testing.T) {
	pin := Pin{conntrackmap.TCP, netip.MustParseAddrPort("192.168.1.20:51413"), netip.MustParseAddrPort("198.51.100.7:51413")}
	for _, r := range []Rules{
		{WAN: "wan0", LAN: []string{"br-lan", "lan2"}, Sources: lanNets, Mapping: true, Hairpin: true},
		{WAN: "wan0", LAN: []string{"br-lan", "lan2"}, Sources: lanNets, Hairpin: true},
	} {
		oif, dnat := r.WAN, false
		if !r.Mapping {
			oif, dnat = r.LAN[0], true
		}
		var got []Pin
		for _, rule := range r.postRules(pin) {
			// iptables -S writes -s as a prefix and adds the protocol match.
			rule = strings.Replace(rule, " -s 192.168.1.20 ", " -s 192.168.1.20/32 ", 1)
			rule = strings.Replace(rule, " --sport", " -m tcp --sport", 1)
			if p, ok := parsePinRule("-A NATP2P_POST "+rule, oif, dnat); ok {
				got = append(got, p)
			}
		}
		if !cmp.Equal(got, []Pin{pin}, equateNet) {
			t.Errorf("Mapping %v: read back %v, want %v", r.Mapping, got, pin)
		}
	}
}

// Lines as iptables -t nat -S prints them.
func TestRandomNAT(t *testing.T) {
	for _, tt := range []struct {
		lines []string
		want  bool
	}{
		{nil, false},
		{[]string{"-P POSTROUTING ACCEPT", "-A POSTROUTING -o wan0 -j MASQUERADE"}, false},
		{[]string{"-A POSTROUTING -o wan0 -j MASQUERADE --random-fully"}, true},
		{[]string{"-A POSTROUTING -o wan0 -j MASQUERADE --random"}, true},
		{[]string{"-A POSTROUTING -j MASQUERADE --random-fully"}, true}, // no -o: the WAN too
		{[]string{"-N zone_wan_postrouting", "-A zone_wan_postrouting -j SNAT --to-source 203.0.113.1-203.0.113.4 --random-fully"}, true},
		// Not the WAN's source NAT: another interface, a negation, a DNAT.
		{[]string{"-A POSTROUTING -o wg0 -j MASQUERADE --random-fully"}, false},
		{[]string{"-A POSTROUTING ! -o wan0 -j MASQUERADE --random-fully"}, false},
		{[]string{"-A PREROUTING -i wan0 -p udp -m udp --dport 7000 -j DNAT --to-destination 10.0.0.2:6000 --random"}, false},
		// natp2p's own chains are not the router's NAT.
		{[]string{"-A NATP2P_MASQ -s 10.0.0.0/24 -o wan0 -j MASQUERADE --random-fully"}, false},
		{[]string{"# -o wan0 -j MASQUERADE --random-fully"}, false},
	} {
		if got := randomNAT(tt.lines, "wan0"); got != tt.want {
			t.Errorf("randomNAT(%q) = %v, want %v", tt.lines, got, tt.want)
		}
	}
}

func TestRestoreHasWait(t *testing.T) {
	for _, tt := range []struct {
		v    [3]int
		want bool
	}{{[3]int{1, 4, 21}, false}, {[3]int{1, 6, 1}, false}, {[3]int{1, 6, 2}, true}, {[3]int{1, 8, 7}, true}, {[3]int{2, 0, 0}, true}} {
		if got := restoreHasWait(tt.v[0], tt.v[1], tt.v[2]); got != tt.want {
			t.Errorf("restoreHasWait(%v) = %v", tt.v, got)
		}
	}
}

// Exit statuses and complaints as iptables 1.8.9 gives them.
func TestIPTError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&exec.Error{Name: "iptables", Err: exec.ErrNotFound},
			`iptables start: exec: "iptables": executable file not found in $PATH (install iptables, or use --backend nftables)`},
		{&iptExitError{Tool: "iptables", Code: iptExitResource, Stderr: "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n"},
			"iptables start: permission denied (run as root)"},
		{&iptExitError{Tool: "iptables", Code: iptExitResource, Stderr: "Fatal: can't open lock file /run/xtables.lock: Permission denied"},
			"iptables start: permission denied (run as root)"},
		{&iptExitError{Tool: "iptables", Code: iptExitVersion, Stderr: "iptables v1.8.9 (legacy): can't initialize iptables table `nat': Permission denied (you must be root)\nPerhaps iptables or your kernel needs to be upgraded.\n"},
			"iptables start: permission denied (run as root)"},
		{&iptExitError{Tool: "iptables", Code: iptExitVersion, Stderr: "iptables v1.8.7 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)\nPerhaps iptables or your kernel needs to be upgraded.\n"},
			"iptables start: the kernel has no iptables nat table (load iptable_nat, or use --backend nftables)"},
		{&iptExitError{Tool: "iptables", Code: iptExitVersion, Stderr: "iptables v1.8.9 (nf_tables): table 'nat' does not exist\nPerhaps iptables or your kernel needs to be upgraded.\n"},
			"iptables start: the kernel has no iptables nat table (load iptable_nat, or use --backend nftables)"},
		{fmt.Errorf("iptables-restore: %w", &iptExitError{Tool: "iptables-restore", Code: iptExitOther,
			Stderr: "iptables-restore: line 2 failed: Bad rule (does a matching rule exist in that chain?).\nTry `iptables-restore -h' for more information.\n"}),
			"iptables start: iptables-restore: exit status 1: iptables-restore: line 2 failed: Bad rule (does a matching rule exist in that chain?)."},
		// The lock held: no permission problem, whatever the text.
		{&iptExitError{Tool: "iptables", Code: iptExitResource, Stderr: "Another app is currently holding the xtables lock. Stopped waiting after 10s.\n"},
			"iptables start: exit status 4: Another app is currently holding the xtables lock. Stopped waiting after 10s."},
		// Only the statuses of an unusable environment are read further.
		{&iptExitError{Tool: "iptables-restore", Code: iptExitParameter, Stderr: "iptables-restore: line 1 failed: Permission denied\n"},
			"iptables start: exit status 2: iptables-restore: line 1 failed: Permission denied"},
	} {
		if got := iptError("start", tt.err); got == nil || got.Error() != tt.want {
			t.Errorf("iptError(%q) = %v\nwant %s", tt.err, got, tt.want)
		}
	}
	if iptError("start", nil) != nil {
		t.Error("iptError(nil) != nil")
	}
}

// iptCause is the one reading of the tools' text; replaced, it decides.
func TestIPTCauseOverride(t *testing.T) {
	saved := iptCause
	t.Cleanup(func() { iptCause = saved })
	iptCause = func(string) error { return errNoNATTable }
	err := &iptExitError{Tool: "iptables", Code: iptExitResource, Stderr: "anything"}
	if !errors.Is(err, errNoNATTable) || errors.Is(err, os.ErrPermission) {
		t.Errorf("errors.Is(%v): not as the overridden iptCause says", err)
	}
	if errors.Is(&iptExitError{Code: iptExitOther}, errNoNATTable) {
		t.Error("exit status 1 read as an unusable environment")
	}
}
