//go:build linux

package enforce

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nlenc"
	"golang.org/x/sys/unix"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/nft_*.txt from what the backend sends (comments are lost)")

// render writes what was sent as text: one block per sendmsg, one line per
// message (type, flags, nfgenmsg), then its attributes, indented by
// nesting. Sequence numbers and ports, which the connection picks, are
// left out; decodeRaw checks that lengths and padding are as encoded.
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
