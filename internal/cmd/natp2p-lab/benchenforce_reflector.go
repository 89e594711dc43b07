//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/internal/lab"
)

// reflector is a UDP server in the WAN host that records, by the 8-byte
// id each datagram carries, the public endpoint it came from.
type reflector struct {
	conns   []*net.UDPConn
	mu      sync.Mutex
	seen    map[uint64]sighting
	changed chan struct{} // closed and replaced at each new sighting
	wg      sync.WaitGroup
}

type sighting struct {
	from netip.AddrPort
	at   time.Time
}

func startReflector(ns *lab.NS, addrs ...netip.AddrPort) (*reflector, error) {
	r := &reflector{seen: map[uint64]sighting{}, changed: make(chan struct{})}
	for _, a := range addrs {
		var conn *net.UDPConn
		err := ns.Do(func() (err error) {
			conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
			return err
		})
		if err != nil {
			r.close()
			return nil, err
		}
		r.conns = append(r.conns, conn)
		r.wg.Add(1)
		go r.serve(conn)
	}
	return r, nil
}

func (r *reflector) serve(conn *net.UDPConn) {
	defer r.wg.Done()
	buf := make([]byte, 64)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if n != 8 {
			continue
		}
		r.mu.Lock()
		r.seen[binary.BigEndian.Uint64(buf)] = sighting{from: from, at: at}
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
}

// wait returns the sighting of id, waiting up to enfWaitSeen for it.
func (r *reflector) wait(id uint64) (sighting, bool) {
	timeout := time.NewTimer(enfWaitSeen)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		s, ok := r.seen[id]
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return s, true
		}
		select {
		case <-ch:
		case <-timeout.C:
			return sighting{}, false
		}
	}
}

func (r *reflector) close() {
	for _, c := range r.conns {
		c.Close()
	}
	r.wg.Wait()
}

// openSockets opens n UDP sockets in ns, each bound to its own ephemeral
// port: n fresh private endpoints.
func openSockets(ns *lab.NS, n int) ([]int, error) {
	var fds []int
	err := ns.Do(func() error {
		for i := 0; i < n; i++ {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
				return err
			}
		}
		return nil
	})
	return fds, err
}

func sendID(fd int, dst netip.AddrPort, id uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	err := unix.Sendto(fd, b[:], 0, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())})
	if err != nil {
		return fmt.Errorf("sendto %v: %w", dst, err)
	}
	return nil
}
