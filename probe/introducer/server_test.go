package introducer_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
	"github.com/natp2p/natp2p/probe/stun"
)

var equateIP = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})

// view is what the tests compare of a success response.
type view struct {
	From, XOR, Mapped, Origin, Other netip.AddrPort
	Software                         string
}

func viewOf(t *testing.T, m *stun.Message, from netip.AddrPort) view {
	t.Helper()
	if m.Type != stun.TypeBindingSuccess {
		code, _ := errorCode(m)
		t.Fatalf("response type 0x%04x (error %d), want a success", m.Type, code)
	}
	v := view{From: from}
	var xor bool
	v.XOR, xor, _ = m.Mapped()
	if !xor {
		t.Error("no XOR-MAPPED-ADDRESS")
	}
	v.Mapped, _ = m.Address(stun.AttrMappedAddress)
	v.Origin, _ = m.Address(stun.AttrResponseOrigin)
	v.Other, _ = m.Address(stun.AttrOtherAddress)
	sw, _ := m.Get(stun.AttrSoftware)
	v.Software = string(sw)
	return v
}

// TestBinding: a plain request to each of the four addresses is answered
// from that address with the mapped address, RESPONSE-ORIGIN and
// OTHER-ADDRESS (RFC 5780 6.1).
func TestBinding(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	c := dial(t, "127.0.0.1:0")
	for _, to := range in.Addrs {
		t.Run(to.String(), func(t *testing.T) {
			c.t = t
			m, from := c.exchange(to, request())
			other := in.Addr(ipIndex(in, to)^1, portIndex(in, to)^1)
			want := view{From: to, XOR: c.addr, Mapped: c.addr, Origin: to, Other: other, Software: "natp2p-introducer"}
			if diff := cmp.Diff(want, viewOf(t, m, from), equateIP); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
	if len(in.Addrs) != 4 {
		t.Errorf("serving %v, want 4 addresses", in.Addrs)
	}
}

func ipIndex(in *probetest.Introducer, a netip.AddrPort) int {
	if a.Addr() == in.Config.Primary {
		return 0
	}
	return 1
}

func portIndex(in *probetest.Introducer, a netip.AddrPort) int {
	if a.Port() == in.Config.Port {
		return 0
	}
	return 1
}

// TestChangeRequest: the response leaves from the socket RFC 5780 6.1
// table 1 says, and RESPONSE-ORIGIN says so.
func TestChangeRequest(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	tests := []struct {
		name       string
		to         [2]int // ip, port index
		flags      uint32
		want       [2]int
		wantOtherF [2]int
	}{
		{"none", [2]int{0, 0}, 0, [2]int{0, 0}, [2]int{1, 1}},
		{"change IP", [2]int{0, 0}, stun.ChangeIP, [2]int{1, 0}, [2]int{1, 1}},
		{"change port", [2]int{0, 0}, stun.ChangePort, [2]int{0, 1}, [2]int{1, 1}},
		{"change both", [2]int{0, 0}, stun.ChangeIP | stun.ChangePort, [2]int{1, 1}, [2]int{1, 1}},
		{"change IP from A2:P2", [2]int{1, 1}, stun.ChangeIP, [2]int{0, 1}, [2]int{0, 0}},
		{"change port from A2:P1", [2]int{1, 0}, stun.ChangePort, [2]int{1, 1}, [2]int{0, 1}},
	}
	c := dial(t, "127.0.0.1:0")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			to, want := in.Addr(tt.to[0], tt.to[1]), in.Addr(tt.want[0], tt.want[1])
			m, from := c.exchange(to, request(change(tt.flags)))
			v := viewOf(t, m, from)
			if from != want || v.Origin != want || v.Other != in.Addr(tt.wantOtherF[0], tt.wantOtherF[1]) {
				t.Errorf("from %v, RESPONSE-ORIGIN %v, OTHER-ADDRESS %v; want from and origin %v",
					from, v.Origin, v.Other, want)
			}
		})
	}
}

// TestResponsePort: the response goes to RESPONSE-PORT on the
// requester's IP address (RFC 5780 7.5), and reports the requester's
// mapped address, not the port it was sent to.
func TestResponsePort(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	x, y := dial(t, "127.0.0.1:0"), dial(t, "127.0.0.1:0")
	b := request(respPort(y.addr.Port()), change(stun.ChangeIP))
	x.send(in.Addrs[0], b)
	resp, from, ok := y.recv(2 * time.Second)
	if !ok {
		t.Fatal("nothing arrived at RESPONSE-PORT")
	}
	v := viewOf(t, parseResponse(t, b, resp), from)
	if v.XOR != x.addr || from != in.Addr(1, 0) {
		t.Errorf("mapped %v from %v; want %v from %v", v.XOR, from, x.addr, in.Addr(1, 0))
	}
	x.silent(100 * time.Millisecond)
}

// TestPadding: PADDING is mirrored (RFC 5780 6.1) at the request's own
// length, even past the MTU; with RESPONSE-PORT it is refused with 400.
func TestPadding(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	c, other := dial(t, "127.0.0.1:0"), dial(t, "127.0.0.1:0")
	for _, n := range []int{4, 1500, 9000} {
		m, _ := c.exchange(in.Addrs[0], request(padding(n), change(stun.ChangeIP|stun.ChangePort)))
		if v, ok := m.Get(stun.AttrPadding); !ok || len(v) != n || m.Type != stun.TypeBindingSuccess {
			t.Errorf("PADDING %d: response type 0x%04x, PADDING %d bytes", n, m.Type, len(v))
		}
	}
	m, from := c.exchange(in.Addrs[0], request(padding(1500), respPort(other.addr.Port())))
	if code, _ := errorCode(m); code != 400 || from != in.Addrs[0] {
		t.Errorf("PADDING with RESPONSE-PORT: error %d from %v, want 400 from %v", code, from, in.Addrs[0])
	}
	other.silent(100 * time.Millisecond)
}

// TestDegraded: with one address, one socket, no OTHER-ADDRESS, and 420
// for any CHANGE-REQUEST (RFC 5780 6).
func TestDegraded(t *testing.T) {
	in := probetest.Start(t, introducer.Config{Primary: probetest.Primary})
	if diff := cmp.Diff([]netip.AddrPort{in.Addr(0, 0)}, in.Addrs, equateIP); diff != "" || !in.Degraded() {
		t.Fatalf("degraded %v, addresses (-want +got):\n%s", in.Degraded(), diff)
	}
	c := dial(t, "127.0.0.1:0")
	m, from := c.exchange(in.Addrs[0], request())
	if v := viewOf(t, m, from); v.Other.IsValid() || v.Origin != in.Addrs[0] {
		t.Errorf("OTHER-ADDRESS %v, RESPONSE-ORIGIN %v", v.Other, v.Origin)
	}
	for _, flags := range []uint32{0, stun.ChangePort, stun.ChangeIP} {
		m, _ := c.exchange(in.Addrs[0], request(change(flags)))
		code, unknown := errorCode(m)
		if diff := cmp.Diff([]byte{0x00, 0x03}, unknown); code != 420 || diff != "" {
			t.Errorf("flags %#x: error %d, UNKNOWN-ATTRIBUTES (-want +got):\n%s", flags, code, diff)
		}
	}
}

// TestUnknownAttribute: 420 with UNKNOWN-ATTRIBUTES (RFC 8489 6.3.1).
func TestUnknownAttribute(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	c := dial(t, "127.0.0.1:0")
	m, _ := c.exchange(in.Addrs[0], request(stun.Attribute{Type: 0x0024, Value: []byte{0, 0, 0, 1}},
		stun.Attribute{Type: 0x0025}, stun.Attribute{Type: 0x8029, Value: make([]byte, 8)}))
	code, unknown := errorCode(m)
	if diff := cmp.Diff([]byte{0x00, 0x24, 0x00, 0x25}, unknown); code != 420 || diff != "" ||
		m.Type != stun.TypeBindingError {
		t.Errorf("type 0x%04x error %d, UNKNOWN-ATTRIBUTES (-want +got):\n%s", m.Type, code, diff)
	}
}

// TestDropped: whatever is not a Binding request is dropped silently and
// counted; the server keeps answering.
func TestDropped(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	c := dial(t, "127.0.0.1:0")
	bad := [][]byte{
		[]byte("\x16\x03\x01 hello, not STUN"), {}, make([]byte, 20),
		(&stun.Message{Type: stun.TypeBindingSuccess}).Marshal(true),
		(&stun.Message{Type: stun.TypeBindingIndicate}).Marshal(true),
		(&stun.Message{Type: 0x0003}).Marshal(true), // Allocate
		flip(request()),
	}
	for _, b := range bad {
		c.send(in.Addrs[0], b)
	}
	c.silent(100 * time.Millisecond)
	st := waitStats(t, in.Stats, func(s introducer.Stats) bool { return s.Dropped == uint64(len(bad)) })
	if st.Dropped != uint64(len(bad)) || st.Responses != 0 || st.Received != uint64(len(bad)) {
		t.Errorf("stats %+v, want %d received and dropped", st, len(bad))
	}
	c.exchange(in.Addrs[0], request())
}

func flip(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }

// TestRateLimit: a source over its rate is dropped, and recovers as its
// bucket refills.
func TestRateLimit(t *testing.T) {
	in := probetest.Start(t, introducer.Config{Rate: 5, Burst: 5})
	c, other := dial(t, "127.0.0.1:0"), dial(t, "127.0.0.3:0")
	const sent = 30
	for i := 0; i < sent; i++ {
		c.send(in.Addrs[i%4], request())
	}
	answered := 0
	for {
		if _, _, ok := c.recv(200 * time.Millisecond); !ok {
			break
		}
		answered++
	}
	st := in.Stats()
	if answered < 5 || answered > 7 || st.RateLimited != uint64(sent-answered) {
		t.Errorf("%d of %d answered, %d rate limited; want 5 (+ refills) and the rest limited", answered, sent, st.RateLimited)
	}
	other.exchange(in.Addrs[0], request()) // another source is not affected
	time.Sleep(400 * time.Millisecond)     // two tokens
	c.exchange(in.Addrs[0], request())
	c.exchange(in.Addrs[0], request())
}

// TestMaxSources sends from many source addresses (127.0.x.y, several
// ports each): every new source is answered, the tracked sources never
// exceed MaxSources, and the oldest are forgotten.
func TestMaxSources(t *testing.T) {
	const maxSources = 16
	in := probetest.Start(t, introducer.Config{MaxSources: maxSources, Rate: 0.001, Burst: 2})
	var first *client
	for i := 0; i < 100; i++ {
		ip := fmt.Sprintf("127.0.%d.%d", 10+i/50, 10+i%50)
		for p := 0; p < 2; p++ {
			c := dial(t, ip+":0")
			c.exchange(in.Addrs[i%4], request())
			if first == nil {
				first = c
			}
		}
		if s := in.Stats().Sources; s > maxSources {
			t.Fatalf("after %d sources: %d tracked, max %d", i+1, s, maxSources)
		}
	}
	last := dial(t, "127.0.11.59:0") // the last source: its two tokens are spent
	last.send(in.Addrs[0], request())
	last.silent(100 * time.Millisecond)
	first.exchange(in.Addrs[0], request()) // forgotten, so a full bucket again
	if s := in.Stats(); s.Sources != maxSources || s.Responses != 201 || s.RateLimited != 1 {
		t.Errorf("stats %+v: want %d sources, 201 responses, 1 rate limited", s, maxSources)
	}
}

// TestResponseSize: over real sockets, no response is more than the
// fixed bound longer than its request.
func TestResponseSize(t *testing.T) {
	in := probetest.Start(t, introducer.Config{})
	c := dial(t, "127.0.0.1:0")
	many := make([]stun.Attribute, 30)
	for i := range many {
		many[i] = stun.Attribute{Type: uint16(0x0030 + i)}
	}
	reqs := [][]byte{
		(&stun.Message{Type: stun.TypeBindingRequest}).Marshal(false), // 20 bytes
		request(), request(change(6)), request(padding(1)), request(padding(1400)),
		request(many...), request(respPort(0)),
	}
	for i, b := range reqs {
		c.send(in.Addrs[0], b)
		resp, _, ok := c.recv(2 * time.Second)
		if !ok {
			t.Fatalf("request %d: no response", i)
		}
		if len(resp) > len(b)+sizeBound {
			t.Errorf("request %d: %d-byte response to %d bytes", i, len(resp), len(b))
		}
	}
}
