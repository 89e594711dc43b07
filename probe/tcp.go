package probe

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/probe/stun"
)

// tcpMapping runs the mapping tests over TCP (STUN over TCP, RFC 8489
// 6.2.2) from one local port to the three addresses, as RFC 5382 REQ-1
// asks of a TCP NAT.
func (c *Client) tcpMapping(ctx context.Context, r *Report) []Test {
	dests := []netip.AddrPort{r.Introducer, netip.AddrPortFrom(r.Other.Addr(), r.Introducer.Port()), r.Other}
	names := []string{"tcp mapping I", "tcp mapping II", "tcp mapping III"}
	tests := make([]Test, len(dests))
	local := netip.AddrPortFrom(c.cfg.Local, 0)
	for i, to := range dests {
		tests[i] = c.tcpTest(ctx, names[i], local, to)
		if i == 0 {
			local = tests[0].Local // the others share its port
		}
	}
	r.TCPMapping = mappingBehaviour(tests[0], tests[1], tests[2])
	return tests
}

// tcpTest connects from local (reusing its port) and runs one Binding.
func (c *Client) tcpTest(ctx context.Context, name string, local, to netip.AddrPort) Test {
	t, _, conn := c.tcpRequest(ctx, name, local, to, bindingRequest(0))
	if conn != nil {
		conn.Close()
	}
	return t
}

// tcpRequest connects from local (reusing its port) and sends req. It
// returns the test, the response (nil without one) and the connection,
// which the caller closes (nil when the dial failed).
func (c *Client) tcpRequest(ctx context.Context, name string, local, to netip.AddrPort, req *stun.Message) (Test, *stun.Message, net.Conn) {
	t := Test{Name: name, Proto: "tcp", To: to}
	deadline := time.Now().Add(c.cfg.Timeout) // for the dial and the exchange
	conn, err := c.tcpDial(ctx, local, to, deadline)
	if err != nil {
		t.Error = err.Error()
		return t, nil, nil
	}
	t.Local = conn.LocalAddr().(*net.TCPAddr).AddrPort()
	conn.SetDeadline(deadline)
	msg, err := tcpExchange(conn, req)
	if err != nil {
		t.Error = err.Error()
		return t, nil, conn
	}
	res := result{Test: t}
	res.fill(msg, to)
	return res.Test, msg, conn
}

// tcpDial connects from local (reusing its port) to to before deadline.
func (c *Client) tcpDial(ctx context.Context, local, to netip.AddrPort, deadline time.Time) (net.Conn, error) {
	return c.dialIn(ctx, local, to, deadline, false)
}

// dialIn is tcpDial. Config.Enter gets the dial's error, except when
// refusal is what is measured (a hole punch): then Enter sees success, as
// the vantage point did create the socket.
func (c *Client) dialIn(ctx context.Context, local, to netip.AddrPort, deadline time.Time, measured bool) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	d := net.Dialer{Control: reusePort}
	if local.Addr().IsValid() || local.Port() != 0 {
		d.LocalAddr = net.TCPAddrFromAddrPort(local)
	}
	// The dial creates its socket on the calling goroutine's thread: inside
	// Config.Enter, that is the vantage point's namespace.
	var conn net.Conn
	var dialErr error
	err := c.enter(func() error {
		conn, dialErr = d.DialContext(ctx, "tcp4", to.String())
		if measured {
			return nil
		}
		return dialErr
	})
	if err == nil {
		err = dialErr
	}
	return conn, err
}

// tcpExchange writes one request and reads its framed response.
func tcpExchange(conn net.Conn, req *stun.Message) (*stun.Message, error) {
	if _, err := conn.Write(req.Marshal(true)); err != nil {
		return nil, err
	}
	return tcpRead(conn, req.TransactionID)
}

// tcpRead reads one framed message of transaction tid.
func tcpRead(conn net.Conn, tid [12]byte) (*stun.Message, error) {
	hdr := make([]byte, stun.HeaderSize)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	if stun.HeaderSize+n > stun.MaxMessageSize {
		return nil, fmt.Errorf("response of %d bytes", stun.HeaderSize+n)
	}
	b := append(hdr, make([]byte, n)...)
	if _, err := io.ReadFull(conn, b[stun.HeaderSize:]); err != nil {
		return nil, err
	}
	msg, err := stun.Parse(b)
	if err == nil && msg.TransactionID != tid {
		err = fmt.Errorf("response to another transaction")
	}
	return msg, err
}

// reusePort lets the TCP tests share one local port (SO_REUSEADDR and
// SO_REUSEPORT), so that the NAT sees one private endpoint.
func reusePort(_, _ string, rc syscall.RawConn) error {
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
