package introducer_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
)

// TestGlobalRate: requests from many sources, each well within its own
// rate, get at most the global bound's burst back; the rest are counted.
// TCP is not bound by it.
func TestGlobalRate(t *testing.T) {
	in := probetest.Start(t, introducer.Config{GlobalRate: 20, TCP: true}) // a burst of 3
	var clients []*client
	for i := 0; i < 20; i++ {
		c := dial(t, fmt.Sprintf("127.0.%d.%d:0", 20+i/10, 10+i%10))
		c.send(in.Addrs[i%4], request())
		clients = append(clients, c)
	}
	answered := 0
	for i, c := range clients {
		wait := 10 * time.Millisecond
		if i == 0 {
			wait = time.Second
		}
		if _, _, ok := c.recv(wait); ok {
			answered++
		}
	}
	st := waitStats(t, in.Stats, func(s introducer.Stats) bool { return s.GlobalLimited+s.Responses >= 20 })
	// 3 at once, plus one every 50 ms of the test (under a second).
	if answered < 3 || answered > 3+20 || st.GlobalLimited != uint64(20-answered) || st.RateLimited != 0 {
		t.Errorf("%d of 20 answered, stats %+v; want 3 (+ refills), the rest limited globally", answered, st)
	}
	c := dialTCP(t, in.Addrs[0])
	for i := 0; i < 5; i++ {
		exchangeTCP(t, c, request())
	}
}

// dialTCPFrom connects from the local IP address ip.
func dialTCPFrom(t *testing.T, ip string, to netip.AddrPort) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp4", to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c.(*net.TCPConn)
}

// closedByServer reports whether the server closed c (within d),
// reading whatever it sent before.
func closedByServer(c net.Conn, d time.Duration) bool {
	defer c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(time.Now().Add(d))
		if _, err := c.Read(buf); err != nil {
			return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
		}
	}
}

// TestTCPConnsPerSource: one address gets its share of connections, the
// rest are closed at once; another address still gets answers, and the
// total bound holds across sources.
func TestTCPConnsPerSource(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true, TCPConns: 5, TCPConnsPerSource: 3})
	var held []*net.TCPConn
	for i := 0; i < 5; i++ {
		c := dialTCPFrom(t, "127.0.0.5", in.Addrs[0])
		c.Write(request()[:2]) // a request that never completes
		held = append(held, c)
	}
	for i, c := range held {
		wait := 200 * time.Millisecond // for one that stays open
		if i >= 3 {
			wait = 2 * time.Second
		}
		if got, want := closedByServer(c, wait), i >= 3; got != want {
			t.Errorf("connection %d from one address: closed %v, want %v", i, got, want)
		}
	}
	exchangeTCP(t, dialTCPFrom(t, "127.0.0.6", in.Addrs[1]), request())
	a, b := dialTCPFrom(t, "127.0.0.6", in.Addrs[0]), dialTCPFrom(t, "127.0.0.7", in.Addrs[0])
	exchangeTCP(t, a, request()) // 3 + 2: the server is full
	if !closedByServer(b, time.Second) {
		t.Error("a sixth connection was kept; TCPConns is 5")
	}
	if st := in.Stats(); st.TCPRefused != 3 || st.RateLimited != 0 {
		t.Errorf("stats %+v, want 3 connections refused", st)
	}
}

// TestTCPLife: a connection is closed at the end of its life from accept
// however it trickles: a byte at a time, or whole requests.
func TestTCPLife(t *testing.T) {
	const life = 400 * time.Millisecond
	in := probetest.Start(t, introducer.Config{TCP: true, TCPLife: life, TCPRequests: 1000})
	for _, whole := range []bool{false, true} {
		t.Run(fmt.Sprint("whole requests ", whole), func(t *testing.T) {
			start := time.Now() // before the accept, whose time the life counts from
			c := dialTCP(t, in.Addrs[0])
			var err error
			for i := 0; err == nil && time.Since(start) < 5*life; i++ {
				b := request()
				if !whole {
					b = b[i%20 : i%20+1]
				}
				_, err = c.Write(b)
				if closedByServer(c, life/20) {
					break
				}
			}
			if d := time.Since(start); d < life || d > 2*life {
				t.Errorf("closed after %v (write error %v), want %v (and soon after)", d, err, life)
			}
		})
	}
}

// TestTCPRequests: the server closes a connection after answering its
// last request.
func TestTCPRequests(t *testing.T) {
	in := probetest.Start(t, introducer.Config{TCP: true, TCPRequests: 3})
	c := dialTCP(t, in.Addrs[0])
	for i := 0; i < 3; i++ {
		exchangeTCP(t, c, request())
	}
	c.Write(request())
	if !closedByServer(c, time.Second) {
		t.Error("a fourth request on the connection was read")
	}
}
