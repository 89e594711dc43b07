package introducer_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/natp2p/natp2p/probe/stun"
)

var ap = netip.MustParseAddrPort

// sizeBound is how much longer than its request a response may be, with
// the default SOFTWARE (see the package doc).
const sizeBound = 128

// client is a UDP socket of a test.
type client struct {
	t    *testing.T
	conn *net.UDPConn
	addr netip.AddrPort
}

// dial opens a UDP socket on local (e.g. "127.0.0.1:0"), closed on cleanup.
func dial(t *testing.T, local string) *client {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap(local)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
}

func (c *client) send(to netip.AddrPort, b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDPAddrPort(b, to); err != nil {
		c.t.Fatal(err)
	}
}

// recv waits up to d for a datagram; ok is false on timeout.
func (c *client) recv(d time.Duration) (b []byte, from netip.AddrPort, ok bool) {
	c.t.Helper()
	buf := make([]byte, 1<<16)
	c.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.conn.ReadFromUDPAddrPort(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, from, false
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return buf[:n], from, true
}

// exchange sends a request and returns the parsed response and where it
// came from, checking the response size bound.
func (c *client) exchange(to netip.AddrPort, b []byte) (*stun.Message, netip.AddrPort) {
	c.t.Helper()
	c.send(to, b)
	resp, from, ok := c.recv(2 * time.Second)
	if !ok {
		c.t.Fatalf("no response from %v", to)
	}
	return parseResponse(c.t, b, resp), from
}

// parseResponse parses resp, checks it answers req and is not more than
// sizeBound bytes longer.
func parseResponse(t *testing.T, req, resp []byte) *stun.Message {
	t.Helper()
	if len(resp) > len(req)+sizeBound {
		t.Errorf("%d-byte response to a %d-byte request (bound: +%d)", len(resp), len(req), sizeBound)
	}
	m, err := stun.Parse(resp)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	if q, _ := stun.Parse(req); q != nil && q.TransactionID != m.TransactionID {
		t.Fatalf("response to transaction %x, sent %x", m.TransactionID, q.TransactionID)
	}
	return m
}

// silent checks that nothing arrives within d.
func (c *client) silent(d time.Duration) {
	c.t.Helper()
	if b, from, ok := c.recv(d); ok {
		c.t.Errorf("unexpected %d bytes from %v", len(b), from)
	}
}

// request marshals a new Binding request with attrs and FINGERPRINT.
func request(attrs ...stun.Attribute) []byte {
	m := stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID(), Attributes: attrs}
	return m.Marshal(true)
}

func change(flags uint32) stun.Attribute {
	return stun.Attribute{Type: stun.AttrChangeRequest, Value: stun.EncodeChangeRequest(flags)}
}

func respPort(p uint16) stun.Attribute {
	return stun.Attribute{Type: stun.AttrResponsePort, Value: stun.EncodeResponsePort(p)}
}

func padding(n int) stun.Attribute {
	return stun.Attribute{Type: stun.AttrPadding, Value: make([]byte, n)}
}

// errorCode returns a response's ERROR-CODE and UNKNOWN-ATTRIBUTES.
func errorCode(m *stun.Message) (int, []byte) {
	v, _ := m.Get(stun.AttrErrorCode)
	code, _, _ := stun.DecodeErrorCode(v)
	unknown, _ := m.Get(stun.AttrUnknownAttrs)
	return code, unknown
}

// waitStats polls until cond holds for the server's stats (up to 2 s).
func waitStats[S any](t *testing.T, get func() S, cond func(S) bool) S {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		s := get()
		if cond(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}
