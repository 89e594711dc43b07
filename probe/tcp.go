package probe

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"

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
	t := Test{Name: name, Proto: "tcp", To: to}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	d := net.Dialer{Control: reusePort}
	if local.Addr().IsValid() || local.Port() != 0 {
		d.LocalAddr = net.TCPAddrFromAddrPort(local)
	}
	// The dial creates its socket on the calling goroutine's thread: inside
	// Config.Enter, that is the vantage point's namespace.
	var conn net.Conn
	err := c.enter(func() (err error) { conn, err = d.DialContext(ctx, "tcp4", to.String()); return err })
	if err != nil {
		t.Error = err.Error()
		return t
	}
	defer conn.Close()
	t.Local = conn.LocalAddr().(*net.TCPAddr).AddrPort()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	msg, err := tcpExchange(conn, bindingRequest(0))
	if err != nil {
		t.Error = err.Error()
		return t
	}
	var res result
	res.Test = t
	res.fill(msg, to)
	return res.Test
}

// tcpExchange writes one request and reads one framed response.
func tcpExchange(conn net.Conn, req *stun.Message) (*stun.Message, error) {
	if _, err := conn.Write(req.Marshal(true)); err != nil {
		return nil, err
	}
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
	if err == nil && msg.TransactionID != req.TransactionID {
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
