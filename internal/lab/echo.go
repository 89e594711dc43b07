//go:build linux

package lab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
)

// maxPeers bounds how many distinct peers one echo server remembers.
const maxPeers = 1 << 16

// peerLog remembers which remote endpoints each echo server has seen.
type peerLog struct {
	mu   sync.Mutex
	seen map[netip.AddrPort]map[netip.AddrPort]struct{}
}

func (p *peerLog) add(server, peer netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = make(map[netip.AddrPort]map[netip.AddrPort]struct{})
	}
	set := p.seen[server]
	if set == nil {
		set = make(map[netip.AddrPort]struct{})
		p.seen[server] = set
	}
	if len(set) < maxPeers {
		set[unmap(peer)] = struct{}{}
	}
}

// Peers returns, sorted, the distinct remote endpoints (as seen after NAT)
// that sent to the UDP or TCP echo server listening on server in this
// namespace. This is the STUN-style ground truth of the public mappings.
func (n *NS) Peers(server netip.AddrPort) []netip.AddrPort {
	n.peers.mu.Lock()
	defer n.peers.mu.Unlock()
	var out []netip.AddrPort
	for p := range n.peers.seen[unmap(server)] {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// UDPEcho starts a UDP echo server on each address (IPv4, port non-zero)
// in this namespace. The servers stop when the lab is closed.
func (n *NS) UDPEcho(addrs ...netip.AddrPort) error {
	for _, a := range addrs {
		var conn *net.UDPConn
		err := n.Do(func() (err error) {
			conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
			return err
		})
		if err != nil {
			return fmt.Errorf("lab: udp echo on %v in %s: %w", a, n.Name, err)
		}
		if err := n.lab.track.add(conn); err != nil {
			return err
		}
		n.lab.cfg.logf("lab: %s: udp echo on %v", n.Name, a)
		n.lab.goEcho(func() { n.serveUDP(a, conn) })
	}
	return nil
}

func (l *Lab) goEcho(fn func()) {
	l.wg.Add(1)
	go func() { defer l.wg.Done(); fn() }()
}

func (n *NS) serveUDP(server netip.AddrPort, conn *net.UDPConn) {
	buf := make([]byte, 64<<10)
	for {
		k, peer, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed by Lab.Close
		}
		n.peers.add(server, peer)
		_, _ = conn.WriteToUDPAddrPort(buf[:k], peer)
	}
}

// TCPEcho starts a TCP echo server (accept, echo until EOF, close) on each
// address in this namespace. The servers and their connections are closed
// when the lab is closed.
func (n *NS) TCPEcho(addrs ...netip.AddrPort) error {
	for _, a := range addrs {
		var ln *net.TCPListener
		err := n.Do(func() (err error) {
			ln, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(a))
			return err
		})
		if err != nil {
			return fmt.Errorf("lab: tcp echo on %v in %s: %w", a, n.Name, err)
		}
		if err := n.lab.track.add(ln); err != nil {
			return err
		}
		n.lab.cfg.logf("lab: %s: tcp echo on %v", n.Name, a)
		n.lab.goEcho(func() { n.serveTCP(a, ln) })
	}
	return nil
}

func (n *NS) serveTCP(server netip.AddrPort, ln *net.TCPListener) {
	for {
		conn, err := ln.AcceptTCP()
		if err != nil {
			return // closed by Lab.Close
		}
		n.peers.add(server, conn.RemoteAddr().(*net.TCPAddr).AddrPort())
		if err := n.lab.track.add(conn); err != nil {
			return
		}
		n.lab.goEcho(func() { n.echoConn(conn) })
	}
}

func (n *NS) echoConn(conn *net.TCPConn) {
	defer n.lab.track.remove(conn)
	defer conn.Close()
	// Plain Reader/Writer wrappers keep io.Copy from trying splice(2).
	src, dst := struct{ io.Reader }{conn}, struct{ io.Writer }{conn}
	if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
		n.lab.cfg.logf("lab: %s: tcp echo %v: %v", n.Name, conn.RemoteAddr(), err)
	}
}
