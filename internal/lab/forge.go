//go:build linux

package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// ForgeBasePort is the first source port ForgeUDP uses.
const ForgeBasePort = 20000

// maxForgePerSource is how many datagrams ForgeUDP sends from one forged
// address at most: one source port each (20000..65535).
const maxForgePerSource = 65536 - ForgeBasePort

// ForgeUDP sends, from this namespace, perSource UDP datagrams from each
// of srcs, which need not be this namespace's addresses: a LAN host
// forging other hosts' sources. Datagram i of a source leaves from port
// ForgeBasePort+i (a new private endpoint each) to dsts[i%len(dsts)], port
// FloodBasePort+i/len(dsts), where no echo server listens, so no reply
// ever comes. It returns how many datagrams were sent and how long it
// took.
func (n *NS) ForgeUDP(ctx context.Context, srcs, dsts []netip.Addr, perSource int) (sent int, elapsed time.Duration, err error) {
	if len(srcs) == 0 || len(dsts) == 0 || perSource <= 0 || perSource > maxForgePerSource {
		return 0, 0, fmt.Errorf("lab: forge: need sources, destinations and 1..%d datagrams per source", maxForgePerSource)
	}
	for _, a := range append(append([]netip.Addr{}, srcs...), dsts...) {
		if !a.Unmap().Is4() {
			return 0, 0, fmt.Errorf("lab: forge: %v is not IPv4", a)
		}
	}
	n.lab.cfg.logf("lab: %s: forge %d udp datagrams from each of %d sources", n.Name, perSource, len(srcs))
	err = n.Do(func() error {
		start := time.Now()
		sent, err = forge(ctx, srcs, dsts, perSource)
		elapsed = time.Since(start)
		return err
	})
	return sent, elapsed, err
}

// forge runs inside the namespace's locked thread: one raw socket (the
// kernel fills in the IPv4 header's length, ID and checksum), sources
// interleaved.
func forge(ctx context.Context, srcs, dsts []netip.Addr, perSource int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return 0, fmt.Errorf("lab: forge: socket: %w", err)
	}
	defer unix.Close(fd)
	sent := 0
	for i := 0; i < perSource; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return sent, fmt.Errorf("lab: forge: %w", ctx.Err())
		}
		dst := dsts[i%len(dsts)].Unmap().As4()
		for _, src := range srcs {
			pkt := forgedDatagram(src.Unmap().As4(), dst, uint16(ForgeBasePort+i), uint16(FloodBasePort+i/len(dsts)))
			if err := sendRetry(fd, pkt, &unix.SockaddrInet4{Addr: dst}); err != nil {
				return sent, fmt.Errorf("lab: forge: sendto %v: %w", netip.AddrFrom4(dst), err)
			}
			sent++
		}
	}
	return sent, nil
}

// forgedDatagram is an IPv4 header and a UDP datagram with a one-byte
// payload and no UDP checksum (zero: allowed over IPv4).
func forgedDatagram(src, dst [4]byte, sport, dport uint16) []byte {
	b := make([]byte, 20+8+1)
	b[0] = 0x45 // IPv4, 5 words of header
	b[8] = 64   // TTL
	b[9] = unix.IPPROTO_UDP
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], 8+1)
	b[28] = 'f'
	return b
}
