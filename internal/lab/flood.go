//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// FloodBasePort is the first destination port FloodUDP uses; keep echo
// servers below it.
const FloodBasePort = 10000

// floodPortsPerAddr is how many destination ports each destination address
// offers one socket (10000..65535).
const floodPortsPerAddr = 65536 - FloodBasePort

// FloodUDP creates flows new UDP flows from this namespace as fast as it
// can, without waiting for replies. It opens `sockets` UDP sockets (each
// its own ephemeral local port); socket k sends one datagram to each of a
// run of distinct destinations (dsts[i%len(dsts)], port 10000+i/len(dsts)),
// so flows = sockets * flows-per-socket. It returns how many datagrams
// were sent and how long sending took.
func (n *NS) FloodUDP(ctx context.Context, dsts []netip.Addr, flows, sockets int) (sent int, elapsed time.Duration, err error) {
	if err := checkFlood(dsts, flows, sockets); err != nil {
		return 0, 0, err
	}
	n.lab.cfg.logf("lab: %s: flood %d udp flows from %d sockets to %v", n.Name, flows, sockets, dsts)
	err = n.Do(func() error {
		start := time.Now()
		sent, err = floodSockets(ctx, dsts, flows, sockets)
		elapsed = time.Since(start)
		return err
	})
	return sent, elapsed, err
}

func checkFlood(dsts []netip.Addr, flows, sockets int) error {
	if len(dsts) == 0 || flows <= 0 || sockets <= 0 {
		return fmt.Errorf("lab: flood: need destinations, flows > 0 and sockets > 0")
	}
	for _, d := range dsts {
		if !d.Unmap().Is4() {
			return fmt.Errorf("lab: flood: %v is not IPv4", d)
		}
	}
	if per := (flows + sockets - 1) / sockets; per > floodPortsPerAddr*len(dsts) {
		return fmt.Errorf("lab: flood: %d flows per socket exceed %d destinations",
			per, floodPortsPerAddr*len(dsts))
	}
	return nil
}

// floodSockets runs inside the namespace's locked thread. All sockets stay
// open until the end so that their ephemeral ports are distinct.
func floodSockets(ctx context.Context, dsts []netip.Addr, flows, sockets int) (int, error) {
	fds, err := openFloodSockets(sockets)
	defer closeAll(fds)
	if err != nil {
		return 0, err
	}
	sent := 0
	for k, fd := range fds {
		count := flows / sockets
		if k < flows%sockets {
			count++
		}
		m, err := floodOne(ctx, fd, dsts, count)
		sent += m
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func openFloodSockets(n int) ([]int, error) {
	fds := make([]int, 0, n)
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fds, fmt.Errorf("lab: flood: socket: %w", err)
		}
		fds = append(fds, fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
			return fds, fmt.Errorf("lab: flood: bind: %w", err)
		}
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// floodOne sends count datagrams from socket fd to distinct destinations.
func floodOne(ctx context.Context, fd int, dsts []netip.Addr, count int) (int, error) {
	payload := []byte("f")
	sa := &unix.SockaddrInet4{}
	for i := 0; i < count; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return i, fmt.Errorf("lab: flood: %w", ctx.Err())
		}
		sa.Addr = dsts[i%len(dsts)].Unmap().As4()
		sa.Port = FloodBasePort + i/len(dsts)
		if err := sendRetry(fd, payload, sa); err != nil {
			return i, fmt.Errorf("lab: flood: sendto %v:%d: %w", netip.AddrFrom4(sa.Addr), sa.Port, err)
		}
	}
	return count, nil
}

// sendRetry retries transient buffer exhaustion a bounded number of times.
func sendRetry(fd int, payload []byte, sa *unix.SockaddrInet4) error {
	var err error
	for try := 0; try < 200; try++ {
		err = unix.Sendto(fd, payload, 0, sa)
		if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return err
		}
		time.Sleep(50 * time.Microsecond)
	}
	return err
}
