//go:build linux

package enforce

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nlenc"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/nft_*.txt from what the backend sends (comments are lost)")

// nftRecorder is a kernel that accepts everything: it records what the
// backend sends, acknowledges what asks for it, and answers get requests
// with answer's messages.
type nftRecorder struct {
	t      *testing.T
	sent   [][]netlink.Message // one slice per sendmsg
	answer func(req netlink.Message) []netlink.Message
}

func newNFTRecorder(t *testing.T) *nftRecorder {
	t.Helper()
	return &nftRecorder{t: t}
}

// backend is an NFT of rules that sends through the recorder.
func (r *nftRecorder) backend(rules Rules) *NFT {
	r.t.Helper()
	n, err := NewNFT(rules)
	if err != nil {
		r.t.Fatal(err)
	}
	n.dial = func() (nftConn, error) { return nltest.Dial(r.serve), nil }
	return n
}

func (r *nftRecorder) serve(req []netlink.Message) ([]netlink.Message, error) {
	r.sent = append(r.sent, req)
	var out []netlink.Message
	for _, m := range req {
		switch {
		case m.Header.Flags&netlink.Dump == netlink.Dump:
			out = append(out, r.dump(m)...)
		case r.answer != nil && !isNew(m):
			out = append(out, reply(m, r.answer(m)...)...)
		}
		if m.Header.Flags&netlink.Acknowledge != 0 {
			ack, _ := nltest.Error(0, []netlink.Message{m})
			out = append(out, ack...)
		}
	}
	return out, nil
}

func isNew(m netlink.Message) bool {
	switch m.Header.Type & 0xff {
	case unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_DELTABLE, unix.NFT_MSG_NEWCHAIN, unix.NFT_MSG_NEWRULE,
		unix.NFT_MSG_NEWSET, unix.NFT_MSG_NEWSETELEM, unix.NFT_MSG_DELSETELEM:
		return true
	}
	return m.Header.Type < netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8)
}

// dump answers a dump request with answer's messages, multipart and
// closed by NLMSG_DONE, as the kernel does (even when there is nothing,
// which nltest.Multipart does not mark).
func (r *nftRecorder) dump(req netlink.Message) []netlink.Message {
	var msgs []netlink.Message
	if r.answer != nil {
		msgs = r.answer(req)
	}
	msgs = append(msgs, netlink.Message{Header: netlink.Header{Type: netlink.Done}, Data: make([]byte, 4)})
	for i := range msgs {
		msgs[i].Header.Flags |= netlink.Multi
	}
	return reply(req, msgs...)
}

// reply gives msgs req's sequence number and port.
func reply(req netlink.Message, msgs ...netlink.Message) []netlink.Message {
	for i := range msgs {
		msgs[i].Header.Sequence, msgs[i].Header.PID = req.Header.Sequence, req.Header.PID
	}
	return msgs
}

// nftAnswer is an answer of nf_tables: nfgenmsg and attributes.
func nftAnswer(t int, attrs ...netlink.Attribute) netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: nftMsgType(t)},
		Data: append(nfgenmsg(unix.NFPROTO_IPV4, 0), nltest.MustMarshalAttributes(attrs)...)}
}

// render writes what was sent as text: one block per sendmsg, one line per
// message (type, flags, nfgenmsg), then its attributes, indented by
// nesting. Sequence numbers and ports, which the connection picks, are
// left out; lengths and padding are checked by lossless instead.
func (r *nftRecorder) render(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, msgs := range r.sent {
		b.WriteString("sendmsg\n")
		for _, m := range msgs {
			fmt.Fprintf(&b, "  %s %s nfgenmsg=%x\n", msgType(m.Header.Type), msgFlags(m.Header.Flags), m.Data[:4])
			attrs := decodeRaw(t, m.Data[4:])
			renderAttrs(&b, attrs, msgObject(m.Header.Type), "    ")
		}
	}
	return b.String()
}

// rawAttr is an attribute with its type bits as sent, and its children
// when NLA_F_NESTED is set.
type rawAttr struct {
	typ  uint16
	data []byte
	kids []rawAttr
}

// decodeRaw reads attributes in host byte order, and checks that encoding
// them again gives b: the rendering loses nothing (lengths, zero padding).
func decodeRaw(t *testing.T, b []byte) []rawAttr {
	t.Helper()
	var out []rawAttr
	for rest := b; len(rest) > 0; {
		if len(rest) < 4 {
			t.Fatalf("attribute header of %d bytes", len(rest))
		}
		n := int(nlenc.Uint16(rest[0:2]))
		if n < 4 || n > len(rest) {
			t.Fatalf("attribute length %d of %d bytes", n, len(rest))
		}
		a := rawAttr{typ: nlenc.Uint16(rest[2:4]), data: rest[4:n]}
		if a.typ&unix.NLA_F_NESTED != 0 {
			a.kids = decodeRaw(t, a.data)
		}
		out = append(out, a)
		rest = rest[min(len(rest), (n+3)&^3):]
	}
	if again := encodeRaw(out); !cmp.Equal(again, b) {
		t.Fatalf("attributes do not encode back the same:\n sent %x\nagain %x", b, again)
	}
	return out
}

func encodeRaw(attrs []rawAttr) []byte {
	as := make([]netlink.Attribute, len(attrs))
	for i, a := range attrs {
		as[i] = netlink.Attribute{Type: a.typ, Data: a.data}
	}
	b, _ := netlink.MarshalAttributes(as)
	return b
}

// renderAttrs writes attributes, each as its number, its name in ctx (see
// attrNames) and its data or, nested, its children.
func renderAttrs(b *strings.Builder, attrs []rawAttr, ctx, indent string) {
	for _, a := range attrs {
		typ := a.typ &^ unix.NLA_F_NESTED
		name, kids, _ := strings.Cut(attrNames[fmt.Sprintf("%s/%d", ctx, typ)], " ")
		if kids == "expr." { // an expression's data: named after its kind
			for _, s := range attrs {
				if s.typ == unix.NFTA_EXPR_NAME {
					kids += strings.TrimRight(string(s.data), "\x00")
				}
			}
		}
		if a.typ&unix.NLA_F_NESTED != 0 {
			fmt.Fprintf(b, "%s%d %s nested\n", indent, typ, name)
			renderAttrs(b, a.kids, kids, indent+"  ")
			continue
		}
		fmt.Fprintf(b, "%s%d %s %s\n", indent, typ, name, renderData(a.data))
	}
}

// attrNames names attributes, "object/type": "name" or "name
// children's-object", after the kernel's NFTA_* (include/uapi/linux/
// netfilter/nf_tables.h).
var attrNames = map[string]string{
	"TABLE/1": "name",
	"CHAIN/1": "table", "CHAIN/3": "name", "CHAIN/4": "hook hook", "CHAIN/7": "type",
	"hook/1": "hooknum", "hook/2": "priority",
	"SET/1": "table", "SET/2": "name", "SET/3": "flags", "SET/4": "key_type", "SET/5": "key_len",
	"SET/6": "data_type", "SET/7": "data_len", "SET/9": "desc desc", "SET/10": "id", "desc/1": "size",
	"SETELEM/1": "table", "SETELEM/2": "set", "SETELEM/3": "elements elems", "elems/1": "element elem",
	"elem/1": "key data", "elem/2": "data data", "data/1": "value",
	"RULE/1": "table", "RULE/2": "chain", "RULE/4": "expressions exprs", "exprs/1": "expr expr",
	"expr/1": "name", "expr/2": "data expr.",
	"expr.meta/1": "dreg", "expr.meta/2": "key",
	"expr.cmp/1": "sreg", "expr.cmp/2": "op", "expr.cmp/3": "data data",
	"expr.payload/1": "dreg", "expr.payload/2": "base", "expr.payload/3": "offset", "expr.payload/4": "len",
	"expr.lookup/1": "set", "expr.lookup/2": "sreg", "expr.lookup/3": "dreg", "expr.lookup/4": "set_id",
	"expr.lookup/5": "flags",
	"expr.nat/1":    "type", "expr.nat/2": "family", "expr.nat/3": "reg_addr_min", "expr.nat/5": "reg_proto_min",
	"expr.nat/7":     "flags",
	"expr.bitwise/1": "sreg", "expr.bitwise/2": "dreg", "expr.bitwise/3": "len", "expr.bitwise/4": "mask data",
	"expr.bitwise/5": "xor data",
	"expr.ct/1":      "dreg", "expr.ct/2": "key", "expr.ct/3": "direction",
	"expr.dynset/1": "set_name", "expr.dynset/2": "set_id", "expr.dynset/3": "op", "expr.dynset/4": "sreg_key",
	"expr.dynset/5": "sreg_data", "expr.dynset/8": "flags",
}

// msgObject is the kind of object a message's attributes describe.
func msgObject(t netlink.HeaderType) string {
	switch t & 0xff {
	case unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_DELTABLE, unix.NFT_MSG_GETTABLE:
		return "TABLE"
	case unix.NFT_MSG_NEWCHAIN, unix.NFT_MSG_GETCHAIN:
		return "CHAIN"
	case unix.NFT_MSG_NEWRULE, unix.NFT_MSG_GETRULE:
		return "RULE"
	case unix.NFT_MSG_NEWSET:
		return "SET"
	case unix.NFT_MSG_NEWSETELEM, unix.NFT_MSG_DELSETELEM, unix.NFT_MSG_GETSETELEM:
		return "SETELEM"
	}
	return ""
}

var printable = regexp.MustCompile(`^[a-z0-9_-]+\x00$`)

// renderData writes a NUL-terminated name as a quoted string, anything
// else in hex.
func renderData(d []byte) string {
	if printable.Match(d) {
		return strconv.Quote(string(d))
	}
	return hex.EncodeToString(d)
}

func msgType(t netlink.HeaderType) string {
	names := map[netlink.HeaderType]string{
		unix.NFNL_MSG_BATCH_BEGIN: "BATCH_BEGIN", unix.NFNL_MSG_BATCH_END: "BATCH_END",
		nftMsgType(unix.NFT_MSG_NEWTABLE): "NEWTABLE", nftMsgType(unix.NFT_MSG_DELTABLE): "DELTABLE",
		nftMsgType(unix.NFT_MSG_NEWCHAIN): "NEWCHAIN", nftMsgType(unix.NFT_MSG_NEWRULE): "NEWRULE",
		nftMsgType(unix.NFT_MSG_NEWSET): "NEWSET", nftMsgType(unix.NFT_MSG_NEWSETELEM): "NEWSETELEM",
		nftMsgType(unix.NFT_MSG_DELSETELEM): "DELSETELEM", nftMsgType(unix.NFT_MSG_GETTABLE): "GETTABLE",
		nftMsgType(unix.NFT_MSG_GETCHAIN): "GETCHAIN", nftMsgType(unix.NFT_MSG_GETRULE): "GETRULE",
		nftMsgType(unix.NFT_MSG_GETSETELEM): "GETSETELEM",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type=%#x", uint16(t))
}

// msgFlags names the flags of a request (NLM_F_*): create and append are
// those of new objects, dump those of get requests.
func msgFlags(f netlink.HeaderFlags) string {
	var names []string
	for _, n := range []struct {
		bits netlink.HeaderFlags
		name string
	}{{netlink.Request, "request"}, {netlink.Acknowledge, "ack"}, {netlink.Dump, "dump"},
		{netlink.Create, "create"}, {unix.NLM_F_APPEND, "append"}} {
		if f&n.bits == n.bits {
			names, f = append(names, n.name), f&^n.bits
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("%#x", uint16(f)))
	}
	return strings.Join(names, "|")
}

// nativeToken is a 32-bit value in host byte order in a golden file:
// "ne32:00000020" is 20000000 on a little-endian host, 00000020 on a
// big-endian one (ct state and ct status masks travel so).
var nativeToken = regexp.MustCompile(`ne32:([0-9a-f]{8})`)

// golden reads testdata/name without its comments and blank lines, with
// host-order values expanded, or writes got to it under -update.
func golden(t *testing.T, name, got string) string {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if trimmed := strings.TrimSpace(l); trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		lines = append(lines, nativeToken.ReplaceAllStringFunc(l, func(tok string) string {
			v, _ := strconv.ParseUint(tok[len("ne32:"):], 16, 32)
			return hex.EncodeToString(binary.NativeEndian.AppendUint32(nil, uint32(v)))
		}))
	}
	return strings.Join(lines, "\n") + "\n"
}

// The rules and pins of the golden files: hairpinning on one LAN with
// mapping, two pins installed, one moved.
var (
	seamRules = Rules{WAN: "wan0", LAN: []string{"br-lan"}, Mapping: true, Hairpin: true}
	seamPins  = []Pin{
		{conntrackmap.UDP, netip.MustParseAddrPort("192.168.1.20:5000"), netip.MustParseAddrPort("203.0.113.1:40000")},
		{conntrackmap.TCP, netip.MustParseAddrPort("192.168.1.21:6000"), netip.MustParseAddrPort("203.0.113.1:41000")},
	}
)

// TestNFTSends compares what each call sends, message by message and byte
// by byte, with testdata/nft_*.txt.
func TestNFTSends(t *testing.T) {
	moved := seamPins[0]
	moved.Public = netip.MustParseAddrPort("203.0.113.1:40100")
	for _, tt := range []struct {
		golden string
		rules  Rules
		call   func(*NFT) error
	}{
		{"nft_install.txt", seamRules, func(n *NFT) error { return n.Install(seamPins) }},
		{"nft_install_hairpin_only.txt", Rules{WAN: "wan0", LAN: []string{"br-lan"}, Hairpin: true},
			func(n *NFT) error { return n.Install(seamPins[:1]) }},
		{"nft_update.txt", seamRules, func(n *NFT) error { return n.Update([]Pin{moved}, seamPins[:1]) }},
		{"nft_remove.txt", seamRules, func(n *NFT) error { return n.Remove() }},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			r := newNFTRecorder(t)
			if err := tt.call(r.backend(tt.rules)); err != nil {
				t.Fatal(err)
			}
			got := r.render(t)
			if diff := cmp.Diff(golden(t, tt.golden, got), got); diff != "" {
				t.Errorf("sent (-want +got):\n%s", diff)
			}
		})
	}
}

// nftKernel answers get requests as a kernel holding natp2p's table with
// chains of the given rule counts (a missing chain: ENOENT) and the map
// pins of pins.
func nftKernel(tables []string, rules map[string]int, pins []Pin) func(req netlink.Message) []netlink.Message {
	return func(req netlink.Message) []netlink.Message {
		attrs, _ := netlink.UnmarshalAttributes(req.Data[4:])
		var name string
		for _, a := range attrs {
			if a.Type == unix.NFTA_CHAIN_NAME || a.Type == unix.NFTA_RULE_CHAIN { // both 2 or 3: chain names
				name = strings.TrimRight(string(a.Data), "\x00")
			}
		}
		var out []netlink.Message
		switch req.Header.Type {
		case nftMsgType(unix.NFT_MSG_GETTABLE):
			for _, t := range tables {
				out = append(out, nftAnswer(unix.NFT_MSG_NEWTABLE, netlink.Attribute{Type: unix.NFTA_TABLE_NAME, Data: cstr(t)}))
			}
		case nftMsgType(unix.NFT_MSG_GETCHAIN):
			if _, ok := rules[name]; !ok {
				out, _ = nltest.Error(int(unix.ENOENT), []netlink.Message{req})
				return out
			}
			out = append(out, nftAnswer(unix.NFT_MSG_NEWCHAIN, netlink.Attribute{Type: unix.NFTA_CHAIN_NAME, Data: cstr(name)}))
		case nftMsgType(unix.NFT_MSG_GETRULE):
			for range rules[name] {
				out = append(out, nftAnswer(unix.NFT_MSG_NEWRULE, netlink.Attribute{Type: unix.NFTA_RULE_CHAIN, Data: cstr(name)}))
			}
		case nftMsgType(unix.NFT_MSG_GETSETELEM):
			var b nftBatch
			b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(pins))
			for _, m := range b.msgs {
				out = append(out, netlink.Message{Header: netlink.Header{Type: m.Header.Type}, Data: m.Data})
			}
		}
		return out
	}
}

// TestNFTInstalled: the table, the learn chain and every rule of the
// other chains, read with one request each.
func TestNFTInstalled(t *testing.T) {
	all := map[string]int{nftPostrouting: 3, nftPrerouting: 1, nftLearn: 2}
	without := func(chain string, n int) map[string]int {
		m := map[string]int{}
		for k, v := range all {
			m[k] = v
		}
		if n < 0 {
			delete(m, chain)
		} else {
			m[chain] = n
		}
		return m
	}
	for _, tt := range []struct {
		name   string
		tables []string
		rules  map[string]int
		want   bool
	}{
		{"installed", []string{"fw4", NFTTable}, all, true},
		{"no table", []string{"fw4"}, all, false},
		{"no learn chain", []string{NFTTable}, without(nftLearn, -1), false},
		{"a rule missing", []string{NFTTable}, without(nftPostrouting, 2), false},
		{"no prerouting chain", []string{NFTTable}, without(nftPrerouting, -1), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newNFTRecorder(t)
			r.answer = nftKernel(tt.tables, tt.rules, nil)
			if ok, err := r.backend(seamRules).Installed(); ok != tt.want || err != nil {
				t.Errorf("Installed() = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
	r := newNFTRecorder(t)
	r.answer = nftKernel([]string{NFTTable}, all, nil)
	r.backend(Rules{WAN: "wan0", Mapping: true}).Installed()
	want := `sendmsg
  GETTABLE request|dump nfgenmsg=02000000
sendmsg
  GETCHAIN request nfgenmsg=02000000
    1 table "natp2p\x00"
    3 name "learn\x00"
sendmsg
  GETRULE request|dump nfgenmsg=02000000
    1 table "natp2p\x00"
    2 chain "postrouting\x00"
`
	if diff := cmp.Diff(want, r.render(t)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestNFTPins reads the pins map's elements, sorted; none without the
// table.
func TestNFTPins(t *testing.T) {
	r := newNFTRecorder(t)
	r.answer = nftKernel([]string{NFTTable}, nil, []Pin{seamPins[1], seamPins[0]})
	pins, err := r.backend(seamRules).Pins()
	want := append([]Pin(nil), seamPins...)
	sortPins(want)
	if err != nil || !cmp.Equal(pins, want, equateNet) {
		t.Errorf("Pins() = %v, %v; want %v", pins, err, want)
	}
	r.answer = nftKernel(nil, nil, seamPins)
	if pins, err := r.backend(seamRules).Pins(); pins != nil || err != nil {
		t.Errorf("Pins() without the table = %v, %v; want none", pins, err)
	}
}

// TestNFTBatches: an Install too large for one sendmsg goes as several
// transactions, each framed by BATCH_BEGIN and BATCH_END, and only the
// last message of each asks for an acknowledgement.
func TestNFTBatches(t *testing.T) {
	r := newNFTRecorder(t)
	if err := r.backend(seamRules).Install(manyPinsOf(5000)); err != nil {
		t.Fatal(err)
	}
	if len(r.sent) < 3 {
		t.Fatalf("%d transactions, want the pins' split in two and the learn rules'", len(r.sent))
	}
	for i, msgs := range r.sent {
		size := 0
		for j, m := range msgs {
			acks := m.Header.Flags&netlink.Acknowledge != 0
			if want := j == len(msgs)-2; acks != want {
				t.Errorf("transaction %d, message %d of %d: acknowledgement %v, want %v", i, j, len(msgs), acks, want)
			}
			size += len(m.Data)
		}
		if first, last := msgs[0].Header.Type, msgs[len(msgs)-1].Header.Type; first != unix.NFNL_MSG_BATCH_BEGIN || last != unix.NFNL_MSG_BATCH_END {
			t.Errorf("transaction %d: %s ... %s", i, msgType(first), msgType(last))
		}
		if size > nftBatchBytes {
			t.Errorf("transaction %d: %d bytes", i, size)
		}
	}
}

// manyPinsOf returns n UDP pins of distinct endpoints.
func manyPinsOf(n int) []Pin {
	pins := make([]Pin, n)
	for i := range pins {
		priv := netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)})
		pins[i] = Pin{conntrackmap.UDP, netip.AddrPortFrom(priv, 5000), netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, 1}), uint16(10000+i))}
	}
	return pins
}
