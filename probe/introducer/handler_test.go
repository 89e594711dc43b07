package introducer

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/natp2p/natp2p/probe/stun"
)

var (
	ap       = netip.MustParseAddrPort
	equateIP = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})
	tid      = [12]byte{0x6e, 0x61, 0x74, 0x70, 0x32, 0x70, 1, 2, 3, 4, 5, 6}
	client   = ap("198.51.100.10:40000")
	a1p1     = ap("203.0.113.10:3478")
	a1p2     = ap("203.0.113.10:3479")
	a2p1     = ap("203.0.113.11:3478")
	a2p2     = ap("203.0.113.11:3479")
)

func testHandler(degraded bool) *handler {
	cfg := Config{Primary: a1p1.Addr(), Alternate: a2p1.Addr()}
	if degraded {
		cfg.Alternate = netip.Addr{}
	}
	cfg = cfg.withDefaults()
	return &handler{plan: newPlan(cfg), software: []byte(cfg.Software)}
}

// req marshals a Binding request (with FINGERPRINT) with attrs.
func req(attrs ...stun.Attribute) []byte {
	m := stun.Message{Type: stun.TypeBindingRequest, TransactionID: tid, Attributes: attrs}
	return m.Marshal(true)
}

func change(flags uint32) stun.Attribute {
	return stun.Attribute{Type: stun.AttrChangeRequest, Value: stun.EncodeChangeRequest(flags)}
}

func ask(flags uint32) stun.Attribute {
	return stun.Attribute{Type: stun.AttrNATP2PAsk, Value: stun.EncodeAsk(flags)}
}

func respPort(p uint16) stun.Attribute {
	return stun.Attribute{Type: stun.AttrResponsePort, Value: stun.EncodeResponsePort(p)}
}

func padding(n int) stun.Attribute {
	return stun.Attribute{Type: stun.AttrPadding, Value: make([]byte, n)}
}

// got is what a test compares: where the reply goes and what it says.
type got struct {
	Outcome                 outcome
	From, To                netip.AddrPort
	Type                    uint16
	XOR, Mapped             netip.AddrPort
	Origin, Other           netip.AddrPort
	Code                    int
	Unknown                 []byte
	Padding                 int
	Software                string
	FingerprintLast, TIDSet bool
}

// summarize parses a reply, checking the size bound on the way.
func summarize(t *testing.T, h *handler, b []byte, r reply) got {
	t.Helper()
	g := got{Outcome: r.outcome, From: r.from, To: r.to}
	if r.outcome == dropped {
		return g
	}
	if len(r.data) > len(b)+h.maxGrowth(false) {
		t.Errorf("response %d bytes to a %d-byte request: more than %d bytes longer", len(r.data), len(b), h.maxGrowth(false))
	}
	m, err := stun.Parse(r.data)
	if err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	g.Type, g.TIDSet = m.Type, m.TransactionID == tid
	g.FingerprintLast = m.Attributes[len(m.Attributes)-1].Type == stun.AttrFingerprint
	g.XOR, _, _ = m.Mapped()
	g.Mapped, _ = m.Address(stun.AttrMappedAddress)
	g.Origin, _ = m.Address(stun.AttrResponseOrigin)
	g.Other, _ = m.Address(stun.AttrOtherAddress)
	if v, ok := m.Get(stun.AttrErrorCode); ok {
		g.Code, _, _ = stun.DecodeErrorCode(v)
	}
	g.Unknown, _ = m.Get(stun.AttrUnknownAttrs)
	v, _ := m.Get(stun.AttrPadding)
	g.Padding = len(v)
	sw, _ := m.Get(stun.AttrSoftware)
	g.Software = string(sw)
	return g
}

// success is the expected summary of a success response to client.
func success(from, to, other netip.AddrPort) got {
	return got{Outcome: answered, From: from, To: to, Type: stun.TypeBindingSuccess, XOR: client,
		Mapped: client, Origin: from, Other: other, Software: DefaultSoftware,
		FingerprintLast: true, TIDSet: true}
}

func failure(local netip.AddrPort, code int, unknown ...byte) got {
	return got{Outcome: rejected, From: local, To: client, Type: stun.TypeBindingError, Code: code,
		Unknown: unknown, Software: DefaultSoftware, FingerprintLast: true, TIDSet: true}
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name     string
		degraded bool
		tcp      bool
		local    netip.AddrPort
		req      []byte
		want     got
	}{
		// RFC 5780 6.1, table 1, from each socket.
		{name: "A1:P1 no flags", local: a1p1, req: req(), want: success(a1p1, client, a2p2)},
		{name: "A1:P2 no flags", local: a1p2, req: req(), want: success(a1p2, client, a2p1)},
		{name: "A2:P1 no flags", local: a2p1, req: req(), want: success(a2p1, client, a1p2)},
		{name: "A2:P2 no flags", local: a2p2, req: req(), want: success(a2p2, client, a1p1)},
		{name: "CHANGE-REQUEST 0", local: a1p1, req: req(change(0)), want: success(a1p1, client, a2p2)},
		{name: "change IP", local: a1p1, req: req(change(stun.ChangeIP)), want: success(a2p1, client, a2p2)},
		{name: "change port", local: a1p1, req: req(change(stun.ChangePort)), want: success(a1p2, client, a2p2)},
		{name: "change both", local: a1p1, req: req(change(stun.ChangeIP | stun.ChangePort)),
			want: success(a2p2, client, a2p2)},
		{name: "change both from A2:P2", local: a2p2, req: req(change(stun.ChangeIP | stun.ChangePort)),
			want: success(a1p1, client, a1p1)},
		{name: "change IP from A1:P2", local: a1p2, req: req(change(stun.ChangeIP)), want: success(a2p2, client, a2p1)},
		{name: "other CHANGE-REQUEST bits ignored", local: a1p1, req: req(change(0xfffffff9)), want: success(a1p1, client, a2p2)},
		// RFC 5780 7.5.
		{name: "RESPONSE-PORT", local: a1p1, req: req(respPort(5000)), want: success(a1p1, ap("198.51.100.10:5000"), a2p2)},
		{name: "RESPONSE-PORT and change both", local: a1p1, req: req(respPort(5000), change(6)),
			want: success(a2p2, ap("198.51.100.10:5000"), a2p2)},
		{name: "RESPONSE-PORT 0", local: a1p1, req: req(respPort(0)), want: failure(a1p1, 400)},
		{name: "RESPONSE-PORT malformed", local: a1p1, req: req(stun.Attribute{Type: stun.AttrResponsePort, Value: []byte{1}}),
			want: failure(a1p1, 400)},
		{name: "CHANGE-REQUEST malformed", local: a1p1, req: req(stun.Attribute{Type: stun.AttrChangeRequest, Value: []byte{0, 6}}),
			want: failure(a1p1, 400)},
		// RFC 5780 6.1, 7.6: PADDING mirrored, never with RESPONSE-PORT.
		{name: "PADDING mirrored", local: a1p1, req: req(padding(1500)),
			want: withPadding(success(a1p1, client, a2p2), 1500)},
		{name: "PADDING odd length", local: a1p1, req: req(padding(3)),
			want: withPadding(success(a1p1, client, a2p2), 3)},
		{name: "PADDING and change both", local: a1p1, req: req(padding(576), change(6)),
			want: withPadding(success(a2p2, client, a2p2), 576)},
		{name: "PADDING with RESPONSE-PORT", local: a1p1, req: req(padding(1500), respPort(5000)), want: failure(a1p1, 400)},
		// RFC 8489 6.3.1: unknown comprehension-required attributes.
		{name: "unknown attributes", local: a1p1,
			req:  req(stun.Attribute{Type: 0x0024, Value: []byte{1, 2, 3, 4}}, stun.Attribute{Type: 0x7fff}, stun.Attribute{Type: 0x0024}),
			want: failure(a1p1, 420, 0x00, 0x24, 0x7f, 0xff)},
		{name: "RESPONSE-ADDRESS (RFC 3489) not supported", local: a1p1,
			req:  req(stun.Attribute{Type: stun.AttrResponseAddress, Value: stun.EncodeAddress(ap("192.0.2.1:53"))}),
			want: failure(a1p1, 420, 0x00, 0x02)},
		{name: "unknown comprehension-optional ignored", local: a1p1,
			req: req(stun.Attribute{Type: 0x8029, Value: make([]byte, 8)}), want: success(a1p1, client, a2p2)},
		{name: "MESSAGE-INTEGRITY and USERNAME ignored", local: a1p1,
			req:  req(stun.Attribute{Type: 0x0006, Value: []byte("user")}, stun.Attribute{Type: 0x0008, Value: make([]byte, 20)}),
			want: success(a1p1, client, a2p2)},
		// RFC 5780 6: degraded single-IP mode.
		{name: "degraded plain", degraded: true, local: a1p1, req: req(), want: success(a1p1, client, netip.AddrPort{})},
		{name: "degraded CHANGE-REQUEST port", degraded: true, local: a1p1, req: req(change(stun.ChangePort)),
			want: failure(a1p1, 420, 0x00, 0x03)},
		{name: "degraded CHANGE-REQUEST 0", degraded: true, local: a1p1, req: req(change(0)),
			want: failure(a1p1, 420, 0x00, 0x03)},
		{name: "degraded RESPONSE-PORT", degraded: true, local: a1p1, req: req(respPort(5000)),
			want: success(a1p1, ap("198.51.100.10:5000"), netip.AddrPort{})},
		{name: "degraded not served", degraded: true, local: a1p2, req: req(), want: got{}},
		// TCP: the response goes back on the connection.
		{name: "TCP plain", tcp: true, local: a2p1, req: req(), want: success(a2p1, client, a1p2)},
		{name: "TCP CHANGE-REQUEST 0", tcp: true, local: a1p1, req: req(change(0)), want: success(a1p1, client, a2p2)},
		{name: "TCP change IP", tcp: true, local: a1p1, req: req(change(stun.ChangeIP)), want: failure(a1p1, 420, 0x00, 0x03)},
		{name: "TCP RESPONSE-PORT", tcp: true, local: a1p1, req: req(respPort(5000)), want: failure(a1p1, 420, 0x00, 0x27)},
		// Dropped silently (RFC 8489 6.3).
		{name: "not STUN", local: a1p1, req: []byte("GET / HTTP/1.1\r\n\r\n..."), want: got{}},
		{name: "success response", local: a1p1, req: msg(stun.TypeBindingSuccess), want: got{}},
		{name: "indication", local: a1p1, req: msg(stun.TypeBindingIndicate), want: got{}},
		{name: "Allocate request", local: a1p1, req: msg(0x0003), want: got{}},
		{name: "bad FINGERPRINT", local: a1p1, req: flipLast(req()), want: got{}},
		{name: "too many attributes", local: a1p1, req: req(make([]stun.Attribute, maxAttributes+1)...), want: got{}},
		{name: "unknown local socket", local: ap("203.0.113.12:3478"), req: req(), want: got{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHandler(tt.degraded)
			r := h.handle(nil, tt.req, client, tt.local, tt.tcp)
			if diff := cmp.Diff(tt.want, summarize(t, h, tt.req, r), equateIP, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

func withPadding(g got, n int) got { g.Padding = n; return g }

func msg(typ uint16) []byte {
	return (&stun.Message{Type: typ, TransactionID: tid}).Marshal(true)
}

func flipLast(b []byte) []byte { b[len(b)-1] ^= 1; return b }

// TestHandleReusesBuffer: the response is built in the caller's buffer.
func TestHandleReusesBuffer(t *testing.T) {
	h := testHandler(false)
	buf := make([]byte, 0, 512)
	r := h.handle(buf, req(), client, a1p1, false)
	if &r.data[0] != &buf[:1][0] {
		t.Error("response not built in the given buffer")
	}
	allocs := testing.AllocsPerRun(100, func() { h.handle(buf, req(), client, a1p1, false) })
	t.Logf("allocations per request, marshalling the request included: %v", allocs)
}

func BenchmarkHandle(b *testing.B) {
	h := testHandler(false)
	buf, in := make([]byte, 0, 512), req(change(stun.ChangeIP))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.handle(buf, in, client, a1p1, false)
	}
}

// TestMaxGrowth: the bound is the largest success response to an empty
// IPv6 request, exactly.
func TestMaxGrowth(t *testing.T) {
	cfg := Config{Primary: netip.MustParseAddr("2001:db8::10"), Alternate: netip.MustParseAddr("2001:db8::11")}.withDefaults()
	h := &handler{plan: newPlan(cfg), software: []byte(cfg.Software)}
	in := (&stun.Message{Type: stun.TypeBindingRequest, TransactionID: tid}).Marshal(false)
	r := h.handle(nil, in, ap("[2001:db8:1::1]:40000"), netip.AddrPortFrom(cfg.Primary, cfg.Port), false)
	if got := len(r.data) - len(in); got != h.maxGrowth(false) || got != 128 {
		t.Errorf("growth %d, maxGrowth %d, want both 128", got, h.maxGrowth(false))
	}
	// Over TCP, a request asking for both of natp2p's measurements.
	ask := &stun.Message{Type: stun.TypeBindingRequest, TransactionID: tid}
	ask.Add(stun.AttrNATP2PAsk, stun.EncodeAsk(stun.AskUnsolicited|stun.AskPeer))
	in = ask.Marshal(false)
	x := extras{unsolicited: stun.UnsolicitedReset, errno: 111, peer: ap("[2001:db8::11]:50000")}
	r = h.handleWith(nil, in, ap("[2001:db8:1::1]:40000"), netip.AddrPortFrom(cfg.Primary, cfg.Port), true, x)
	if got := len(r.data) - len(in); got != h.maxGrowth(true) || got != 152 {
		t.Errorf("TCP growth %d, maxGrowth %d, want both 152", got, h.maxGrowth(true))
	}
}

// TestPaddingCapped: mirrored PADDING never makes a datagram too large.
func TestPaddingCapped(t *testing.T) {
	h := testHandler(false)
	in := req(padding(stun.MaxPaddedMessageSize&^3 - stun.HeaderSize - 4 - 8))
	r := h.handle(nil, in, client, a1p1, false)
	if r.outcome != answered || len(r.data) > stun.MaxPaddedMessageSize {
		t.Errorf("outcome %v, %d bytes; want an answer of at most %d", r.outcome, len(r.data), stun.MaxPaddedMessageSize)
	}
}

// BenchmarkServe is the per-datagram work past the socket, on every CPU
// at once: counters, rate limiter (off, as in the benchmark against
// coturn, and on), the global bound (off, on, and refusing every
// request), handler.
func BenchmarkServe(b *testing.B) {
	for _, bc := range serveCases {
		b.Run(bc.name, func(b *testing.B) {
			s, in, local := serveCase(b, bc.rate, bc.global)
			var n atomic.Uint32
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				out := make([]byte, 0, 1500)
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(n.Add(1))}), 40000)
				for pb.Next() {
					if _, ok := s.serve(out, in, src, local, false); ok != bc.answered {
						b.Fatalf("answered %v", ok)
					}
				}
			})
		})
	}
}

var serveCases = []struct {
	name         string
	rate, global float64
	answered     bool
}{
	{"rate=-1", -1, 0, true},
	{"rate=1e+09", 1e9, -1, true},
	{"rate=-1,global=1e+09", -1, 1e9, true},
	{"rate=1e+09,global=1e+09", 1e9, 1e9, true},
	{"rate=1e+09,global=over", 1e9, 1e-3, false},
}

func serveCase(tb testing.TB, rate, global float64) (*Server, []byte, netip.AddrPort) {
	s, err := New(Config{Primary: netip.MustParseAddr("192.0.2.1"), Alternate: netip.MustParseAddr("192.0.2.2"),
		Rate: rate, Burst: 1e9, GlobalRate: global})
	if err != nil {
		tb.Fatal(err)
	}
	s.replies.allow(time.Now()) // a refusing budget spends its one reply
	return s, req(), netip.AddrPortFrom(s.cfg.Primary, s.cfg.Port)
}

// TestServeAllocs: a request over the global bound allocates nothing,
// and the bound adds no allocation to an answered one.
func TestServeAllocs(t *testing.T) {
	allocs := map[string]float64{}
	for _, c := range serveCases {
		s, in, local := serveCase(t, c.rate, c.global)
		out := make([]byte, 0, 1500)
		src := netip.MustParseAddrPort("198.51.100.7:40000")
		allocs[c.name] = testing.AllocsPerRun(100, func() { s.serve(out, in, src, local, false) })
	}
	if a := allocs["rate=1e+09,global=over"]; a != 0 {
		t.Errorf("%v allocations per request over the global bound, want 0", a)
	}
	if a, b := allocs["rate=1e+09"], allocs["rate=1e+09,global=1e+09"]; a != b {
		t.Errorf("%v allocations per answer with the global bound, %v without", b, a)
	}
}
