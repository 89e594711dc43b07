package introducer_test

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
	"github.com/natp2p/natp2p/probe/stun"
)

func askAttr(flags uint32) stun.Attribute {
	return stun.Attribute{Type: stun.AttrNATP2PAsk, Value: stun.EncodeAsk(flags)}
}

// reuse sets SO_REUSEADDR and SO_REUSEPORT, so that a listener and a
// connection share a port.
func reuse(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// listenOn listens on the local address of c (sharing its port).
func listenOn(t *testing.T, c net.Conn) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: reuse}
	ln, err := lc.Listen(context.Background(), "tcp4", c.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialReuse connects to to from a port that a listener may share.
func dialReuse(t *testing.T, to netip.AddrPort) net.Conn {
	t.Helper()
	d := net.Dialer{Control: reuse, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	c, err := d.Dial("tcp4", to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// TestUnsolicitedSYN: the SYN goes to the public endpoint of the
// connection that asked; the answer says what came back. On loopback, no
// NAT: the kernel refuses it, or a listener on the port accepts it.
func TestUnsolicitedSYN(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true})
	for _, listen := range []bool{false, true} {
		c := dialReuse(t, in.Addrs[0])
		if listen {
			listenOn(t, c)
		}
		m := exchangeTCP(t, c, request(askAttr(stun.AskUnsolicited)))
		v, ok := m.Get(stun.AttrNATP2PUnsolicited)
		if !ok {
			t.Fatal("no NATP2P-UNSOLICITED in the answer")
		}
		u, errno, err := stun.DecodeUnsolicited(v)
		want, wantErrno := stun.UnsolicitedReset, uint16(syscall.ECONNREFUSED)
		if listen {
			want, wantErrno = stun.UnsolicitedSYNACK, 0
		}
		if err != nil || u != want || errno != wantErrno {
			t.Errorf("listening %v: outcome %d errno %d (%v), want %d errno %d", listen, u, errno, err, want, wantErrno)
		}
		if _, ok := m.Get(stun.AttrNATP2PPeer); ok {
			t.Error("a punching peer that was not asked for")
		}
	}
}

// TestPunchingPeer: the peer, on the alternate address, connects to the
// public endpoint of the connection that asked (here a listener on the
// same port takes its SYN) and sends what it saw; a second ask on the
// same connection gets no second peer.
func TestPunchingPeer(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true})
	c := dialReuse(t, in.Addrs[0])
	ln := listenOn(t, c)
	req := request(askAttr(stun.AskPeer))
	m := exchangeTCP(t, c, req)
	v, ok := m.Get(stun.AttrNATP2PPeer)
	if !ok {
		t.Fatal("no NATP2P-PEER in the answer")
	}
	peer, err := stun.DecodeXORAddress(v, m.TransactionID)
	if err != nil || peer.Addr() != probetest.Alternate {
		t.Fatalf("peer %v (%v), want one on %v", peer, err, probetest.Alternate)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if from := s.RemoteAddr().(*net.TCPAddr).AddrPort(); from != peer {
		t.Errorf("session from %v, want the peer %v", from, peer)
	}
	s.SetDeadline(time.Now().Add(5 * time.Second))
	proof := parseResponse(t, req, readTCP(t, s))
	if mapped, _, err := proof.Mapped(); err != nil || mapped != c.LocalAddr().(*net.TCPAddr).AddrPort() {
		t.Errorf("peer saw %v (%v), want %v", mapped, err, c.LocalAddr())
	}
	if _, ok := exchangeTCP(t, c, request(askAttr(stun.AskPeer))).Get(stun.AttrNATP2PPeer); ok {
		t.Error("a second punching peer on one connection")
	}
}

// TestAskIgnored: over UDP, and by a single-IP introducer, the ask gets
// the plain answer.
func TestAskIgnored(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true})
	m, _ := dial(t, "127.0.0.1:0").exchange(in.Addrs[0], request(askAttr(stun.AskUnsolicited|stun.AskPeer)))
	single := probetest.Start(t, introducer.Config{TCP: true, Primary: probetest.Primary})
	m2 := exchangeTCP(t, dialTCP(t, single.Addrs[0]), request(askAttr(stun.AskUnsolicited|stun.AskPeer)))
	for i, m := range []*stun.Message{m, m2} {
		_, u := m.Get(stun.AttrNATP2PUnsolicited)
		_, p := m.Get(stun.AttrNATP2PPeer)
		if m.Type != stun.TypeBindingSuccess || u || p {
			t.Errorf("%d: type 0x%04x, unsolicited %v, peer %v; want a plain success", i, m.Type, u, p)
		}
	}
}
