//go:build linux

package enforce

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

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
		"short":       info("nat", 5)[:iptGetinfoSize-1],
		"other table": info("filter", 5),
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
	if id, ok := decodeGen(append(nfgenmsg(unix.AF_UNSPEC, 0), attrs...)); !ok || id != 0x01020304 {
		t.Errorf("decodeGen = %#x, %v; want 0x01020304", id, ok)
	}
	for name, data := range map[string][]byte{"empty": nil, "no id": nfgenmsg(unix.AF_UNSPEC, 0)} {
		if _, ok := decodeGen(data); ok {
			t.Errorf("%s: decoded", name)
		}
	}
}

// TestIPTGuard: the steps of the check and of natp2p's writes, and
// whether the next check lists.
func TestIPTGuard(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	type step struct {
		do   string // list-ok, list-missing, write, write-fail, remove
		s    iptStamp
		s2   iptStamp // the stamp after a write
		at   time.Duration
		list bool // then: must a check at s (or s2 after a write) list?
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"never listed", []step{{do: "", s: "a", list: true}}},
		{"idle after a complete listing", []step{{do: "list-ok", s: "a", at: time.Second, list: false}}},
		{"foreign change", []step{{do: "list-ok", s: "a"}, {do: "", s: "b", list: true}}},
		{"missing rules are listed again", []step{{do: "list-missing", s: "a", list: true}}},
		{"backstop", []step{{do: "list-ok", s: "a", at: iptBackstop, list: true}}},
		{"own write keeps trust", []step{{do: "list-ok", s: "a"}, {do: "write", s: "a", s2: "b", list: false}}},
		{"foreign change before own write", []step{{do: "list-ok", s: "a"}, {do: "write", s: "x", s2: "b", list: true}}},
		{"failed write", []step{{do: "list-ok", s: "a"}, {do: "write-fail", s: "a", s2: "b", list: true}}},
		{"remove", []step{{do: "list-ok", s: "a"}, {do: "remove", s: "a", s2: "b", list: true}}},
		{"write before any listing", []step{{do: "write", s: "a", s2: "b", list: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g iptGuard
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				last := st.s
				switch st.do {
				case "list-ok", "list-missing":
					g.afterList(st.s, st.do == "list-ok", t0)
				case "write", "write-fail", "remove":
					g.beforeWrite(st.s)
					var err error
					if st.do == "write-fail" {
						err = errors.New("exit status 1")
					}
					g.afterWrite(st.s2, err)
					if st.do == "remove" {
						g.distrust()
					}
					last = st.s2
				}
				if got := !g.fresh(last, now); got != st.list {
					t.Errorf("step %d (%s): lists = %v, want %v", i, st.do, got, st.list)
				}
			}
		})
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

func (q *stampSeq) oneWrite(before, after iptStamp) bool { return true }

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
		if got := (nftGen{}).oneWrite(tc.before, tc.after); got != tc.want {
			t.Errorf("oneWrite(%x, %x) = %v, want %v", tc.before, tc.after, got, tc.want)
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
	seq := &stampSeq{[]iptStamp{"a", "a", "a", "a" /* before the update */, "b" /* after */, "b", "c"}}
	b.stamper = seq
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
