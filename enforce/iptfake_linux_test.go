//go:build linux

package enforce

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/conntrackmap"
)

// fakeIPT is an iptRunner that records the commands and answers from a
// script: tools found by LookPath, and each command line's output or
// failure.
type fakeIPT struct {
	paths map[string]string // file -> path; missing: not found
	out   map[string]string // command line -> standard output
	fail  map[string]error  // command line -> error
	calls []string          // command lines, each followed by its stdin
}

func (f *fakeIPT) LookPath(file string) (string, error) {
	if p, ok := f.paths[file]; ok {
		return p, nil
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

func (f *fakeIPT) Run(argv []string, stdin []byte) ([]byte, error) {
	line := strings.Join(argv, " ")
	f.calls = append(f.calls, line)
	if stdin != nil {
		f.calls = append(f.calls, string(stdin))
	}
	return []byte(f.out[line]), f.fail[line]
}

// newFakeIPT is a fakeIPT of iptables 1.8.9 in /usr/sbin, with nothing of
// natp2p's in the nat table.
func newFakeIPT() *fakeIPT {
	return &fakeIPT{
		paths: map[string]string{"iptables": "/usr/sbin/iptables", "/usr/sbin/iptables-restore": "/usr/sbin/iptables-restore"},
		out: map[string]string{
			"/usr/sbin/iptables --version":                   "iptables v1.8.9 (nf_tables)\n",
			"/usr/sbin/iptables -w 10 -t nat -S POSTROUTING": "-P POSTROUTING ACCEPT\n-A POSTROUTING -o wan0 -j MASQUERADE\n",
			"/usr/sbin/iptables -w 10 -t nat -S PREROUTING":  "-P PREROUTING ACCEPT\n",
			"/usr/sbin/iptables -w 10 -t nat -S":             "-P PREROUTING ACCEPT\n-P POSTROUTING ACCEPT\n-A POSTROUTING -o wan0 -j MASQUERADE\n",
		},
		fail: map[string]error{},
	}
}

func (f *fakeIPT) backend(t *testing.T, r Rules) *IPT {
	t.Helper()
	b, err := newIPT(r, f)
	if err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	return b
}

const (
	listPost = "/usr/sbin/iptables -w 10 -t nat -S POSTROUTING"
	listPre  = "/usr/sbin/iptables -w 10 -t nat -S PREROUTING"
	listAll  = "/usr/sbin/iptables -w 10 -t nat -S"
	restore  = "/usr/sbin/iptables-restore --noflush -w 10"
)

// Flavour and version: iptables-restore next to iptables, -w when both
// take it.
func TestNewIPTFlavour(t *testing.T) {
	for _, tt := range []struct {
		name          string
		version       string
		restoreBeside bool
		wantList      []string
		wantRestore   []string
	}{
		{"1.8.9 nf_tables", "iptables v1.8.9 (nf_tables)\n", true,
			[]string{"/usr/sbin/iptables", "-w", "10"}, []string{"/usr/sbin/iptables-restore", "--noflush", "-w", "10"}},
		{"1.8.7 legacy", "iptables v1.8.7 (legacy)\n", true,
			[]string{"/usr/sbin/iptables", "-w", "10"}, []string{"/usr/sbin/iptables-restore", "--noflush", "-w", "10"}},
		{"1.6.1: no -w", "iptables v1.6.1\n", true,
			[]string{"/usr/sbin/iptables"}, []string{"/usr/sbin/iptables-restore", "--noflush"}},
		{"restore only on PATH", "iptables v1.8.9 (legacy)\n", false,
			[]string{"/usr/sbin/iptables", "-w", "10"}, []string{"/bin/iptables-restore", "--noflush", "-w", "10"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIPT()
			f.out["/usr/sbin/iptables --version"] = tt.version
			f.paths["iptables-restore"] = "/bin/iptables-restore"
			if !tt.restoreBeside {
				delete(f.paths, "/usr/sbin/iptables-restore")
			}
			b := f.backend(t, Rules{WAN: "wan0", Mapping: true})
			if diff := cmp.Diff(tt.wantList, b.list); diff != "" {
				t.Errorf("iptables (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRestore, b.restore); diff != "" {
				t.Errorf("iptables-restore (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewIPTErrors(t *testing.T) {
	f := newFakeIPT()
	delete(f.paths, "iptables")
	if _, err := newIPT(Rules{WAN: "wan0", Mapping: true}, f); err == nil || !strings.Contains(err.Error(), "install iptables") {
		t.Errorf("no iptables: %v", err)
	}
	f = newFakeIPT()
	f.fail["/usr/sbin/iptables --version"] = &iptExitError{Tool: "iptables", Code: iptExitParameter, Stderr: "unknown option"}
	if _, err := newIPT(Rules{WAN: "wan0", Mapping: true}, f); err == nil {
		t.Error("iptables --version failing: no error")
	}
}

var fakePin = Pin{conntrackmap.UDP, netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("203.0.113.1:40000")}

// Install, Update and Remove: the listings they read, the script they
// feed iptables-restore.
func TestIPTCommands(t *testing.T) {
	hairpin := Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lanNets[:1], Mapping: true, Hairpin: true}
	moved := fakePin
	moved.Public = netip.MustParseAddrPort("203.0.113.1:40100")
	wanRule := func(p Pin) string {
		return "NATP2P_POST -o wan0 -p udp -s 10.0.0.1 --sport 5000 -j SNAT --to-source " + p.Public.String()
	}
	for _, tt := range []struct {
		name  string
		r     Rules
		setup func(f *fakeIPT)
		call  func(b *IPT) error
		want  []string
	}{
		{"install, nothing there", Rules{WAN: "wan0", Mapping: true}, nil, func(b *IPT) error { return b.Install([]Pin{fakePin}) },
			[]string{listAll, restore, "*nat\n" + strings.Join([]string{
				":NATP2P_POST - [0:0]", ":NATP2P_PRE - [0:0]", ":NATP2P_HAIR - [0:0]", ":NATP2P_MASQ - [0:0]",
				"-I POSTROUTING 1 -j NATP2P_POST", "-X NATP2P_MASQ", "-X NATP2P_PRE", "-X NATP2P_HAIR",
				"-A " + wanRule(fakePin), "COMMIT"}, "\n") + "\n"}},
		{"install over an install", hairpin, func(f *fakeIPT) {
			f.out[listAll] = "-P PREROUTING ACCEPT\n-P POSTROUTING ACCEPT\n-N NATP2P_HAIR\n-N NATP2P_POST\n-N NATP2P_PRE\n-N NATP2P_SU\n" +
				"-A PREROUTING -j NATP2P_PRE\n-A POSTROUTING -j NATP2P_POST\n-A POSTROUTING -j NATP2P_HAIR\n-A POSTROUTING -o wan0 -j MASQUERADE\n" +
				"-A NATP2P_POST -p udp -j NATP2P_SU\n"
		}, func(b *IPT) error { return b.Install(nil) },
			[]string{listAll, restore, "*nat\n" + strings.Join([]string{
				":NATP2P_POST - [0:0]", ":NATP2P_PRE - [0:0]", ":NATP2P_HAIR - [0:0]", ":NATP2P_MASQ - [0:0]",
				"-X NATP2P_MASQ", ":NATP2P_SU - [0:0]", "-X NATP2P_SU", "COMMIT"}, "\n") + "\n"}},
		{"install, jumps missing, preserving ports", Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lanNets[:1], Mapping: true, Hairpin: true,
			Preserve: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}, nil, func(b *IPT) error { return b.Install(nil) },
			[]string{listAll, restore, "*nat\n" + strings.Join([]string{
				":NATP2P_POST - [0:0]", ":NATP2P_PRE - [0:0]", ":NATP2P_HAIR - [0:0]", ":NATP2P_MASQ - [0:0]",
				"-I POSTROUTING 1 -j NATP2P_POST", "-I POSTROUTING 2 -j NATP2P_MASQ",
				"-A NATP2P_MASQ -s 10.0.0.0/24 -o wan0 -j MASQUERADE",
				"-I PREROUTING 1 -j NATP2P_PRE", "-I POSTROUTING 2 -j NATP2P_HAIR", "COMMIT"}, "\n") + "\n"}},
		{"update moves a pin", Rules{WAN: "wan0", Mapping: true}, nil, func(b *IPT) error {
			if err := b.Install([]Pin{fakePin}); err != nil {
				return err
			}
			return b.Update([]Pin{moved}, []Pin{fakePin})
		}, []string{listAll, restore, "*nat\n" + strings.Join([]string{
			":NATP2P_POST - [0:0]", ":NATP2P_PRE - [0:0]", ":NATP2P_HAIR - [0:0]", ":NATP2P_MASQ - [0:0]",
			"-I POSTROUTING 1 -j NATP2P_POST", "-X NATP2P_MASQ", "-X NATP2P_PRE", "-X NATP2P_HAIR",
			"-A " + wanRule(fakePin), "COMMIT"}, "\n") + "\n",
			restore, "*nat\n-D " + wanRule(fakePin) + "\n-A " + wanRule(moved) + "\nCOMMIT\n"}},
		{"update, nothing to do", Rules{WAN: "wan0", Mapping: true}, nil, func(b *IPT) error { return b.Update(nil, nil) }, nil},
		{"remove", hairpin, func(f *fakeIPT) {
			f.out[listAll] = "-P PREROUTING ACCEPT\n-P POSTROUTING ACCEPT\n-N NATP2P_HAIR\n-N NATP2P_POST\n-N NATP2P_SU\n-N NATP2P_SU_0a00\n" +
				"-A POSTROUTING -j NATP2P_POST\n-A POSTROUTING -j NATP2P_HAIR\n"
		}, func(b *IPT) error { return b.Remove() },
			[]string{listAll, restore, "*nat\n" + strings.Join([]string{
				":NATP2P_POST - [0:0]", ":NATP2P_PRE - [0:0]", ":NATP2P_HAIR - [0:0]", ":NATP2P_MASQ - [0:0]",
				":NATP2P_SU - [0:0]", ":NATP2P_SU_0a00 - [0:0]",
				"-D POSTROUTING -j NATP2P_POST", "-D POSTROUTING -j NATP2P_HAIR",
				"-X NATP2P_POST", "-X NATP2P_PRE", "-X NATP2P_HAIR", "-X NATP2P_MASQ", "-X NATP2P_SU", "-X NATP2P_SU_0a00", "COMMIT"}, "\n") + "\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIPT()
			if tt.setup != nil {
				tt.setup(f)
			}
			if err := tt.call(f.backend(t, tt.r)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, f.calls); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

// Installed: every jump there; Pins: the WAN rules, none without the chain.
func TestIPTIntegrity(t *testing.T) {
	f := newFakeIPT()
	b := f.backend(t, Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lanNets[:1], Mapping: true, Hairpin: true})
	if ok, err := b.Installed(); ok || err != nil {
		t.Errorf("Installed() with no jumps = %v, %v; want false", ok, err)
	}
	f.out[listPost] = "-P POSTROUTING ACCEPT\n-A POSTROUTING -j NATP2P_POST\n-A POSTROUTING -j NATP2P_HAIR\n"
	if ok, err := b.Installed(); ok || err != nil {
		t.Errorf("Installed() without the PREROUTING jump = %v, %v; want false", ok, err)
	}
	f.out[listPre] = "-P PREROUTING ACCEPT\n-A PREROUTING -j NATP2P_PRE\n"
	if ok, err := b.Installed(); !ok || err != nil {
		t.Errorf("Installed() = %v, %v; want true", ok, err)
	}

	if pins, err := b.Pins(); pins != nil || err != nil {
		t.Errorf("Pins() without the chain = %v, %v; want none", pins, err)
	}
	other := Pin{conntrackmap.TCP, netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("203.0.113.1:80")}
	f.out[listAll] = "-N NATP2P_POST\n-N NATP2P_ST_0a000002\n" +
		"-A NATP2P_POST -s 10.0.0.1/32 -o wan0 -p udp -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000\n" +
		"-A NATP2P_POST -s 10.0.0.1/32 -o br-lan -p udp -m conntrack --ctstate DNAT -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000\n" +
		"-A NATP2P_ST_0a000002 -s 10.0.0.2/32 -o wan0 -p tcp -m tcp --sport 80 -j SNAT --to-source 203.0.113.1:80\n" +
		"-A NATP2P_DT_0a000002 -s 10.0.0.3/32 -o wan0 -p tcp -m tcp --sport 80 -j SNAT --to-source 203.0.113.1:81\n"
	if pins, err := b.Pins(); err != nil || !cmp.Equal(pins, []Pin{other, fakePin}, equateNet) {
		t.Errorf("Pins() = %v, %v; want %v", pins, err, []Pin{other, fakePin})
	}
}

// A failure's exit status decides the advice, through every call.
func TestIPTFailures(t *testing.T) {
	f := newFakeIPT()
	b := f.backend(t, Rules{WAN: "wan0", Mapping: true})
	f.fail[listPost] = &iptExitError{Tool: "iptables", Code: iptExitResource,
		Stderr: "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n"}
	f.fail[listAll] = f.fail[listPost]
	if _, err := b.Installed(); err == nil || err.Error() != "iptables list: permission denied (run as root)" {
		t.Errorf("Installed() without permission: %v", err)
	}
	if err := b.Install(nil); err == nil || err.Error() != "iptables install: permission denied (run as root)" {
		t.Errorf("Install() without permission: %v", err)
	}
	delete(f.fail, listPost)
	delete(f.fail, listAll)
	f.fail[restore] = &iptExitError{Tool: "iptables-restore", Code: iptExitOther,
		Stderr: "iptables-restore: line 2 failed: Bad rule (does a matching rule exist in that chain?).\n"}
	if err := b.Update(nil, []Pin{fakePin}); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("Update() before Install or Pins: %v", err)
	}
	if err := b.Install([]Pin{fakePin}); err == nil {
		t.Fatal("Install() with iptables-restore failing: no error")
	}
	f.out[listAll] = "-N NATP2P_POST\n-A NATP2P_POST -s 10.0.0.1/32 -o wan0 -p udp -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000\n"
	if _, err := b.Pins(); err != nil {
		t.Fatal(err)
	}
	err := b.Update(nil, []Pin{fakePin})
	if want := "iptables update: iptables-restore: exit status 1: iptables-restore: line 2 failed: Bad rule (does a matching rule exist in that chain?)."; err == nil || err.Error() != want {
		t.Errorf("Update() of a missing rule: %v\nwant %s", err, want)
	}
	if err := b.Update([]Pin{{conntrackmap.UDP, netip.MustParseAddrPort("[fd00::1]:5000"), fakePin.Public}}, nil); err == nil {
		t.Error("Update() of an IPv6 pin: no error")
	}
}

// At 2,000 pins, one pin added is one iptables-restore that appends the
// pin's rules to a leaf of each tree, or to a new leaf and a jump to it in
// its parent (here PRE's: the pin's public port opens a range of 16): no
// chain flushed, no rule or chain deleted. A batch of 50 is one
// iptables-restore too.
func TestIPTUpdateWritesOneLeaf(t *testing.T) {
	f := newFakeIPT()
	r := Rules{WAN: "wan0", LAN: []string{"br-lan"}, Sources: lanNets[:1], Mapping: true, Hairpin: true}
	b := f.backend(t, r)
	var pins []Pin
	for i := range 2050 {
		pins = append(pins, Pin{conntrackmap.UDP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i%100)}), uint16(40000+i*7)),
			netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(10000+i))})
	}
	if err := b.Install(pins[:2000]); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	if err := b.Update(pins[2000:2001], nil); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 2 || f.calls[0] != restore {
		t.Fatalf("commands %q, want one iptables-restore", f.calls)
	}
	counts := map[string]int{}
	for _, l := range strings.Split(f.calls[1], "\n") {
		if i := strings.IndexByte(l, ' '); i > 0 {
			counts[l[:min(i, 2)]]++
		}
	}
	// Four rules of the pin (WAN and LAN SNAT, HAIR's, PRE's), one jump.
	if counts[":N"] != 1 || counts["-A"] != 5 || counts["-D"]+counts["-F"]+counts["-X"] != 0 {
		t.Errorf("one pin: %v lines by kind, want one chain created, five rules appended, nothing else:\n%s", counts, f.calls[1])
	}
	f.calls = nil
	if err := b.Update(pins[2001:], pins[:1]); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 2 || f.calls[0] != restore {
		t.Errorf("a batch of 49 pins and a deletion: commands %q, want one iptables-restore", len(f.calls))
	}
}
