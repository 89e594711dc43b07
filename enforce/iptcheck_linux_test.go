//go:build linux

package enforce

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestDecodeGetinfo(t *testing.T) {
	info := func(name string, entries uint32) []byte {
		b := make([]byte, iptGetinfoSize)
		copy(b, name)
		binary.NativeEndian.PutUint32(b[32+4*11:], entries)
		return b
	}
	a, err := decodeGetinfo(info("nat", 5))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := decodeGetinfo(info("nat", 5)); a != b {
		t.Error("the same table info gave two stamps")
	}
	if b, _ := decodeGetinfo(info("nat", 6)); a == b {
		t.Error("another entry count gave the same stamp")
	}
	for name, b := range map[string][]byte{
		"short": info("nat", 5)[:iptGetinfoSize-1],
	} {
		if _, err := decodeGetinfo(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDecodeGen(t *testing.T) {
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_GEN_PROC_PID, Data: binary.BigEndian.AppendUint32(nil, 7)},
		{Type: unix.NFTA_GEN_ID, Data: binary.BigEndian.AppendUint32(nil, 0x01020304)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if id := decodeGen(attrs); string(id) != "\x01\x02\x03\x04" {
		t.Errorf("decodeGen = %x; want 01020304", id)
	}
	for name, data := range map[string][]byte{"empty": nil, "no id": attrs[:8], "truncated": attrs[:12],
		"bad length": {0xff, 0, 1, 0, 0, 0, 0, 0}} {
		if id := decodeGen(data); id != nil {
			t.Errorf("%s: decoded %x", name, id)
		}
	}
}

// TestIPTGuard: the steps of the check and of natp2p's writes, and
// whether the next check lists.
func TestIPTGuard(t *testing.T) {
	type step struct {
		do   string   // list-ok, list-missing, write, write-fail, remove
		s    iptStamp // the stamp (before a write)
		s2   iptStamp // the stamp after a write
		list bool     // then: must a check at s (or s2 after a write) list?
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"never listed", []step{{do: "", s: "a", list: true}}},
		{"idle after a complete listing", []step{{do: "list-ok", s: "a", list: false}, {do: "", s: "a", list: false}}},
		{"foreign change", []step{{do: "list-ok", s: "a"}, {do: "", s: "b", list: true}}},
		{"missing rules are listed again", []step{{do: "list-missing", s: "a", list: true}}},
		{"own write keeps trust", []step{{do: "list-ok", s: "a"}, {do: "write", s: "a", s2: "b", list: false}}},
		{"foreign change before own write", []step{{do: "list-ok", s: "a"}, {do: "write", s: "x", s2: "b", list: true}}},
		{"failed write", []step{{do: "list-ok", s: "a"}, {do: "write-fail", s: "a", s2: "b", list: true}}},
		{"remove", []step{{do: "list-ok", s: "a"}, {do: "remove", s: "a", s2: "b", list: true}}},
		{"write before any listing", []step{{do: "write", s: "a", s2: "b", list: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g iptGuard
			for i, st := range tc.steps {
				last := st.s
				switch st.do {
				case "list-ok", "list-missing":
					g.record(st.s, st.do == "list-ok")
				case "write", "write-fail", "remove":
					g.wrote(st.s, st.s2, st.do == "write")
					last = st.s2
				}
				if got := !g.fresh(last); got != st.list {
					t.Errorf("step %d (%s): lists = %v, want %v", i, st.do, got, st.list)
				}
			}
		})
	}
}

// TestIPTGuardBackstop: an unchanged stamp is trusted for iptBackstop
// checks in a row, then the check lists.
func TestIPTGuardBackstop(t *testing.T) {
	var g iptGuard
	g.record("a", true)
	for i := range iptBackstop {
		if !g.fresh("a") {
			t.Fatalf("check %d after the listing lists", i)
		}
	}
	if g.fresh("a") {
		t.Errorf("check %d after the listing does not list", iptBackstop)
	}
	g.record("a", true)
	if !g.fresh("a") {
		t.Error("the check after the backstop's listing lists")
	}
}

// stampSeq is an iptStamper that returns its stamps in turn, then the
// last one.
type stampSeq struct{ s []iptStamp }

func (q *stampSeq) stamp() (iptStamp, error) {
	s := q.s[0]
	if len(q.s) > 1 {
		q.s = q.s[1:]
	}
	return s, nil
}

func TestNFTGenOneWrite(t *testing.T) {
	gen := func(n uint32) iptStamp { return iptStamp(binary.BigEndian.AppendUint32(nil, n)) }
	for _, tc := range []struct {
		before, after iptStamp
		want          bool
	}{
		{gen(7), gen(8), true},
		{gen(0xffffffff), gen(0), true},
		{gen(7), gen(9), false}, // another commit in between
		{gen(7), gen(7), false},
		{"", gen(8), false},
	} {
		if got := nftOneWrite(tc.before, tc.after); got != tc.want {
			t.Errorf("nftOneWrite(%x, %x) = %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
}

// TestIPTInstalledListsOnlyOnChange: with a stamper, Installed lists the
// chains once, then not while the stamp stands, not after an Update of
// natp2p's own, and again when the stamp moves by itself.
func TestIPTInstalledListsOnlyOnChange(t *testing.T) {
	f := newFakeIPT()
	f.out["/usr/sbin/iptables -w 10 -t nat -S POSTROUTING"] = "-P POSTROUTING ACCEPT\n-A POSTROUTING -j " + IPTPost + "\n"
	b := f.backend(t, Rules{WAN: "wan0", Mapping: true})
	// nf_tables generations (the fake is iptables-nft): the update moves
	// it by one, then something else does.
	gen := func(n uint32) iptStamp { return iptStamp(binary.BigEndian.AppendUint32(nil, n)) }
	seq := &stampSeq{[]iptStamp{gen(1) /* Pins */, gen(1), gen(1), gen(1), gen(1) /* before the update */, gen(2) /* after */, gen(2), gen(3)}}
	b.stamper = seq
	if _, err := b.Pins(); err != nil { // updates lay out against the pins read
		t.Fatal(err)
	}
	lists := func() int {
		n := 0
		for _, c := range f.calls {
			if strings.Contains(c, " -S ") {
				n++
			}
		}
		return n
	}
	for i, want := range []int{1, 1, 1} {
		if ok, err := b.Installed(); !ok || err != nil {
			t.Fatalf("Installed() = %v, %v", ok, err)
		}
		if got := lists(); got != want {
			t.Errorf("check %d: %d listings, want %d", i, got, want)
		}
	}
	if err := b.Update([]Pin{udpPin("198.51.100.10", 5000, 40000)}, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 2} { // at b: trusted; at c: listed
		if ok, err := b.Installed(); !ok || err != nil {
			t.Fatalf("Installed() = %v, %v", ok, err)
		}
		if got := lists(); got != want {
			t.Errorf("check %d after the update: %d listings, want %d", i, got, want)
		}
	}
}

// stampVar is an iptStamper whose stamp the test sets.
type stampVar struct{ s iptStamp }

func (v *stampVar) stamp() (iptStamp, error) { return v.s, nil }

// TestIPTPinsHeldWhileStampStands: the enforcer's periodic read-back of
// the pins lists the nat table only when the stamp moved; while it shows
// natp2p's own writes alone, the pins the backend wrote are the kernel's.
func TestIPTPinsHeldWhileStampStands(t *testing.T) {
	f := newFakeIPT()
	f.out["/usr/sbin/iptables --version"] = "iptables v1.8.9 (legacy)\n"
	f.out[listPost] = "-P POSTROUTING ACCEPT\n-A POSTROUTING -j " + IPTPost + "\n"
	b := f.backend(t, Rules{WAN: "wan0", Mapping: true})
	v := &stampVar{"a"}
	b.stamper = v
	listings := func() int {
		n := 0
		for _, c := range f.calls {
			if c == listAll {
				n++
			}
		}
		return n
	}
	want := []Pin{udpPin("198.51.100.10", 5000, 40000), udpPin("198.51.100.11", 5000, 40001)}
	if err := b.Install(want[:1]); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Installed(); !ok || err != nil { // lists the jumps, trusts stamp "a"
		t.Fatalf("Installed() = %v, %v", ok, err)
	}
	if err := b.Update(want[1:], nil); err != nil {
		t.Fatal(err)
	}
	base := listings()
	for i := range 3 {
		got, err := b.Pins()
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Pins() = %v, %v; want %v", got, err, want)
		}
		if n := listings() - base; n != 0 {
			t.Fatalf("read-back %d listed the table %d times while the stamp stood", i, n)
		}
	}
	v.s = "b" // something else wrote
	if _, err := b.Pins(); err != nil {
		t.Fatal(err)
	}
	if n := listings() - base; n != 1 {
		t.Errorf("after the stamp moved, Pins listed the table %d times, want 1", n)
	}
}
