//go:build integration

package main

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/stun"
)

// introducerWith is natp2p-introducer on the lab's server addresses with
// extra flags.
func introducerWith(extra ...string) server {
	return server{"natp2p-introducer", func(string) []string {
		argv := []string{introducerBin, "--primary", primaryIP, "--alternate", alternateIP,
			"--port", port, "--alt-port", altPort, "--summary", "1s"}
		return append(argv, extra...)
	}}
}

// Bounds of the slow-connection attack.
const (
	slowConns    = 1100            // more than the server's total of 1,024
	slowOpenTime = 5 * time.Second // to open them
	legitTries   = 8
)

// TestSlowConnections: one address (a routed LAN host, no NAT) opens as
// many TCP connections as it can and keeps them open, a byte a second on
// each; a client from another address still gets every answer. The
// per-source rate is raised so that the attacker opens its connections
// within seconds: the test is about the connections it holds, not the
// rate it opens them at.
func TestSlowConnections(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.NoNAT, LANHosts: 2})
	introducerWith("--rate", "10000", "--burst", "10000").start(t, l)
	srv := netip.MustParseAddrPort(primaryIP + ":" + port)
	attack := openSlow(t, l.LAN[0], srv)
	stop := attack.trickle()
	answered := 0
	for i := 0; i < legitTries; i++ {
		if err := tcpBinding(l.LAN[1], srv); err != nil {
			t.Logf("legitimate request %d: %v", i+1, err)
			continue
		}
		answered++
	}
	stop()
	// Connections still in the kernel's accept queue look open to the
	// attacker until the server takes them and closes the excess: give it
	// a moment to.
	held := attack.open()
	for end := time.Now().Add(3 * time.Second); held > introducer.DefaultTCPConnsPerSource && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		held = attack.open()
	}
	t.Logf("attacker opened %d connections, holds %d; the legitimate client got %d of %d answers",
		len(attack.conns), held, answered, legitTries)
	if answered != legitTries {
		t.Errorf("the legitimate client got %d of %d answers", answered, legitTries)
	}
	if held > introducer.DefaultTCPConnsPerSource {
		t.Errorf("one address holds %d connections, want at most %d", held, introducer.DefaultTCPConnsPerSource)
	}
}

// slowAttack is an attacker's open connections.
type slowAttack struct {
	mu    sync.Mutex
	conns []*net.TCPConn
}

// openSlow opens up to slowConns connections from ns to srv within
// slowOpenTime, each with the first byte of a request, and closes them
// in cleanup.
func openSlow(t *testing.T, ns *lab.NS, srv netip.AddrPort) *slowAttack {
	t.Helper()
	a := &slowAttack{}
	t.Cleanup(func() {
		for _, c := range a.conns {
			c.Close()
		}
	})
	deadline := time.Now().Add(slowOpenTime)
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: time.Second}
		for len(a.conns) < slowConns && time.Now().Before(deadline) {
			c, err := d.Dial("tcp4", srv.String())
			if err != nil {
				return err // as many as it can
			}
			a.conns = append(a.conns, c.(*net.TCPConn))
			c.Write([]byte{0x00})
		}
		return nil
	})
	if err != nil {
		t.Logf("the attacker stops after %d connections: %v", len(a.conns), err)
	}
	if len(a.conns) == 0 {
		t.Fatal("the attacker opened no connection")
	}
	return a
}

// trickle writes one byte a second on every connection until stop is
// called (at most 30 s).
func (a *slowAttack) trickle() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for end := time.After(30 * time.Second); ; {
			select {
			case <-done:
				return
			case <-end:
				return
			case <-tick.C:
				for _, c := range a.conns {
					c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
					c.Write([]byte{0x01})
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// open counts the connections the server has not closed.
func (a *slowAttack) open() int {
	n := 0
	buf := make([]byte, 64)
	for _, c := range a.conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(buf); errors.Is(err, os.ErrDeadlineExceeded) {
			n++
		}
	}
	return n
}

// tcpBinding connects from ns to srv and runs one Binding over TCP,
// within 2 s.
func tcpBinding(ns *lab.NS, srv netip.AddrPort) error {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", srv.String(), time.Second)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	req := (&stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID()}).Marshal(true)
	if _, err := c.Write(req); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if m, err := stun.Parse(buf[:n]); err != nil || m.Type != stun.TypeBindingSuccess {
		return errors.New("no Binding success response")
	}
	return nil
}
