package introducer

import (
	"net/netip"
	"testing"

	"github.com/natp2p/natp2p/probe/stun"
)

// FuzzServeRequest feeds arbitrary bytes to the request handler, as if
// received from a source on one of the server's sockets (opt picks the
// socket, TCP, degraded mode, and whether natp2p's measurements found
// something). The handler must never panic, and anything it sends must be
// a well-formed response to that request, from a served address, to the
// requester's own IP address, and at most maxGrowth bytes longer than the
// request; natp2p's attributes only over TCP, and only when asked.
func FuzzServeRequest(f *testing.F) {
	seeds := [][]byte{
		req(), req(change(stun.ChangeIP | stun.ChangePort)), req(respPort(5000)),
		req(padding(100)), req(padding(8), respPort(1)), req(stun.Attribute{Type: 0x0024}),
		msg(stun.TypeBindingSuccess), []byte("not stun at all, not at all"),
	}
	for i, s := range seeds {
		f.Add(s, uint8(i), uint16(40000+i))
	}
	// natp2p's request attribute, over TCP (4) and UDP, found (0x20) or not.
	for i, s := range [][]byte{req(ask(stun.AskUnsolicited)), req(ask(stun.AskPeer)),
		req(ask(stun.AskUnsolicited | stun.AskPeer)), req(ask(0xFFFFFFFF), padding(40)),
		req(stun.Attribute{Type: stun.AttrNATP2PAsk, Value: []byte{1}}), req(ask(3), change(stun.ChangeIP))} {
		for _, opt := range []uint8{4 | 0x20, 4, 0x20, 0x10 | 4 | 0x20} {
			f.Add(s, opt, uint16(50000+i))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, opt uint8, port uint16) {
		h := testHandler(opt&0x10 != 0)
		socks := h.plan.sockets()
		local, tcp := socks[int(opt&3)%len(socks)], opt&4 != 0
		src := netip.AddrPortFrom(client.Addr(), port)
		var x extras
		if opt&0x20 != 0 {
			x = extras{unsolicited: stun.Unsolicited(1 + port%4), errno: port, peer: netip.AddrPortFrom(socks[len(socks)-1].Addr(), port)}
		}
		r := h.handleWith(make([]byte, 0, 64), b, src, local, tcp, x)
		if r.outcome != dropped {
			checkReply(t, h, b, src, local, tcp, r)
			checkExtras(t, b, tcp, x, r)
		}
	})
}

// checkExtras: natp2p's answers come over TCP only, when asked for, and
// say what the measurements found.
func checkExtras(t *testing.T, b []byte, tcp bool, x extras, r reply) {
	m, _ := stun.Parse(r.data)
	in, _ := stun.Parse(b)
	asked := uint32(0)
	if v, ok := in.Get(stun.AttrNATP2PAsk); ok && tcp && r.outcome == answered {
		asked, _ = stun.DecodeAsk(v)
	}
	if r.ask != asked&(stun.AskUnsolicited|stun.AskPeer) {
		t.Fatalf("reply asks %x, request %x (tcp %v, outcome %v)", r.ask, asked, tcp, r.outcome)
	}
	v, got := m.Get(stun.AttrNATP2PUnsolicited)
	if want := asked&stun.AskUnsolicited != 0 && x.unsolicited != 0; got != want {
		t.Fatalf("unsolicited SYN's fate sent %v, want %v", got, want)
	} else if u, errno, err := stun.DecodeUnsolicited(v); got && (err != nil || u != x.unsolicited || errno != x.errno) {
		t.Fatalf("unsolicited SYN's fate %d, %d, %v; want %d, %d", u, errno, err, x.unsolicited, x.errno)
	}
	v, got = m.Get(stun.AttrNATP2PPeer)
	if want := asked&stun.AskPeer != 0 && x.peer.IsValid(); got != want {
		t.Fatalf("punching peer sent %v, want %v", got, want)
	} else if p, err := stun.DecodeXORAddress(v, m.TransactionID); got && (err != nil || p != x.peer) {
		t.Fatalf("punching peer %v, %v; want %v", p, err, x.peer)
	}
}

func checkReply(t *testing.T, h *handler, b []byte, src, local netip.AddrPort, tcp bool, r reply) {
	if len(r.data) > len(b)+h.maxGrowth(tcp) {
		t.Fatalf("%d-byte response to a %d-byte request", len(r.data), len(b))
	}
	m, err := stun.Parse(r.data)
	if err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	in, _ := stun.Parse(b)
	if in == nil || m.TransactionID != in.TransactionID {
		t.Fatal("response to something that is not a request, or another transaction")
	}
	if _, _, ok := h.plan.index(r.from); !ok || r.to.Addr() != src.Addr() {
		t.Fatalf("sent from %v to %v", r.from, r.to)
	}
	if tcp && (r.from != local || r.to != src) {
		t.Fatalf("TCP response from %v to %v, not back on the connection", r.from, r.to)
	}
	if origin, err := m.Address(stun.AttrResponseOrigin); r.outcome == answered && (err != nil || origin != r.from) {
		t.Fatalf("RESPONSE-ORIGIN %v, %v; sent from %v", origin, err, r.from)
	}
	if mapped, _, err := m.Mapped(); r.outcome == answered && (err != nil || mapped != src) {
		t.Fatalf("XOR-MAPPED-ADDRESS %v, %v; source %v", mapped, err, src)
	}
}
