package introducer_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
	"github.com/natp2p/natp2p/probe/stun"
)

func dialTCP(t *testing.T, to netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// readTCP reads one framed STUN message.
func readTCP(t *testing.T, c net.Conn) []byte {
	t.Helper()
	h := make([]byte, stun.HeaderSize)
	if _, err := io.ReadFull(c, h); err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b := make([]byte, stun.HeaderSize+int(binary.BigEndian.Uint16(h[2:])))
	copy(b, h)
	if _, err := io.ReadFull(c, b[stun.HeaderSize:]); err != nil {
		t.Fatal(err)
	}
	return b
}

func exchangeTCP(t *testing.T, c net.Conn, b []byte) *stun.Message {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	return parseResponse(t, b, readTCP(t, c))
}

// TestTCP: Binding over TCP on every address, several requests on one
// connection; what needs another socket gets 420.
func TestTCP(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true})
	for _, to := range in.Addrs {
		c := dialTCP(t, to)
		local := c.LocalAddr().(*net.TCPAddr).AddrPort()
		for i := 0; i < 2; i++ {
			v := viewOf(t, exchangeTCP(t, c, request(change(0))), to)
			if v.XOR != local || v.Origin != to || !v.Other.IsValid() {
				t.Errorf("%v: mapped %v origin %v other %v; want %v %v", to, v.XOR, v.Origin, v.Other, local, to)
			}
		}
	}
	c := dialTCP(t, in.Addrs[0])
	for _, tt := range []struct {
		attr stun.Attribute
		want []byte
	}{{change(stun.ChangeIP), []byte{0, 3}}, {change(stun.ChangePort), []byte{0, 3}}, {respPort(4000), []byte{0, 0x27}}} {
		code, unknown := errorCode(exchangeTCP(t, c, request(tt.attr)))
		if code != 420 || string(unknown) != string(tt.want) {
			t.Errorf("attribute 0x%04x over TCP: error %d, UNKNOWN-ATTRIBUTES %x", tt.attr.Type, code, unknown)
		}
	}
}

// TestTCPNotSTUN: a stream that is not STUN is closed.
func TestTCPNotSTUN(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true})
	c := dialTCP(t, in.Addrs[0])
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read: %v, want the connection closed", err)
	}
	st := waitStats(t, in.Stats, func(s introducer.Stats) bool { return s.Dropped == 1 })
	if st.Dropped != 1 || st.TCPConns != 1 {
		t.Errorf("stats %+v, want 1 connection, 1 dropped", st)
	}
}
