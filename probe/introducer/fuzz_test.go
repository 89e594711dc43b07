package introducer

import (
	"net/netip"
	"testing"

	"github.com/natp2p/natp2p/probe/stun"
)

// FuzzServeRequest feeds arbitrary bytes to the request handler, as if
// received from a source on one of the server's sockets (opt picks the
// socket, TCP and degraded mode). The handler must never panic, and
// anything it sends must be a well-formed response to that request, from
// a served address, to the requester's own IP address, and at most
// maxGrowth bytes longer than the request.
func FuzzServeRequest(f *testing.F) {
	seeds := [][]byte{
		req(), req(change(stun.ChangeIP | stun.ChangePort)), req(respPort(5000)),
		req(padding(100)), req(padding(8), respPort(1)), req(stun.Attribute{Type: 0x0024}),
		msg(stun.TypeBindingSuccess), []byte("not stun at all, not at all"),
	}
	for i, s := range seeds {
		f.Add(s, uint8(i), uint16(40000+i))
	}
	f.Fuzz(func(t *testing.T, b []byte, opt uint8, port uint16) {
		h := testHandler(opt&0x10 != 0)
		socks := h.plan.sockets()
		local, tcp := socks[int(opt&3)%len(socks)], opt&4 != 0
		src := netip.AddrPortFrom(client.Addr(), port)
		r := h.handle(make([]byte, 0, 64), b, src, local, tcp)
		if r.outcome != dropped {
			checkReply(t, h, b, src, local, tcp, r)
		}
	})
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
