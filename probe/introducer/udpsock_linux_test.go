package introducer

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bindAny binds a UDP socket on a free port of ip, closed on cleanup; it
// skips the test if ip is not available (no IPv6 on the host).
func bindAny(t *testing.T, ip string) *udpSocket {
	t.Helper()
	u, err := bindUDP(netip.AddrPortFrom(netip.MustParseAddr(ip), 0))
	if errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Skipf("%s: %v", ip, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.close)
	sa, err := unix.Getsockname(u.fd)
	if err != nil {
		t.Fatal(err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		u.addr = netip.AddrPortFrom(u.addr.Addr(), uint16(sa.Port))
	case *unix.SockaddrInet6:
		u.addr = netip.AddrPortFrom(u.addr.Addr(), uint16(sa.Port))
	}
	return u
}

// TestUDPSocket: a datagram and its reply cross two sockets, with the
// source read right, and nothing allocated per datagram.
func TestUDPSocket(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			a, b := bindAny(t, ip), bindAny(t, ip)
			var pa, pb peer
			buf := make([]byte, maxDatagram)
			exchange := func() {
				if err := a.send([]byte("ping"), b.addr, &pa); err != nil {
					t.Fatal(err)
				}
				n, src, err := b.recv(buf, &pb)
				if err != nil || src != a.addr || !bytes.Equal(buf[:n], []byte("ping")) {
					t.Fatalf("b read %q from %v, %v; want ping from %v", buf[:n], src, err, a.addr)
				}
				if err := b.send([]byte("pong"), src, &pb); err != nil {
					t.Fatal(err)
				}
				n, src, err = a.recv(buf, &pa)
				if err != nil || src != b.addr || !bytes.Equal(buf[:n], []byte("pong")) {
					t.Fatalf("a read %q from %v, %v; want pong from %v", buf[:n], src, err, b.addr)
				}
			}
			if allocs := testing.AllocsPerRun(100, exchange); allocs != 0 {
				t.Errorf("%v allocations per exchange, want 0", allocs)
			}
		})
	}
}

// TestBindUDPError: a taken address fails as the net package's listen
// would, with the errno.
func TestBindUDPError(t *testing.T) {
	u := bindAny(t, "127.0.0.1")
	_, err := bindUDP(u.addr)
	want := "listen udp4 " + u.addr.String() + ": bind: address already in use"
	if !errors.Is(err, syscall.EADDRINUSE) || err.Error() != want {
		t.Errorf("second bind: %v, want %q", err, want)
	}
}

// TestStopReading: readers blocked in recv return at once, and keep
// returning with no source, when the socket stops reading.
func TestStopReading(t *testing.T) {
	u := bindAny(t, "127.0.0.1")
	const readers = 3
	got := make(chan netip.AddrPort, readers)
	for i := 0; i < readers; i++ {
		go func() {
			var p peer
			_, src, _ := u.recv(make([]byte, 16), &p)
			got <- src
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them block
	u.stopReading()
	for i := 0; i < readers; i++ {
		select {
		case src := <-got:
			if src.IsValid() {
				t.Errorf("woken reader got a source %v", src)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("reader still blocked 2 s after stopReading")
		}
	}
	var p peer
	if n, src, err := u.recv(make([]byte, 16), &p); n != 0 || src.IsValid() || err != nil {
		t.Errorf("recv after stop: %d, %v, %v", n, src, err)
	}
}

func TestZoneIndex(t *testing.T) {
	if i, err := zoneIndex("7"); err != nil || i != 7 {
		t.Errorf("7: %d, %v", i, err)
	}
	if i, err := zoneIndex(""); err != nil || i != 0 {
		t.Errorf("no zone: %d, %v", i, err)
	}
}

// TestZoneIndexName looks interface names up through rtnetlink, which
// qemu-user cannot parse: scripts/test-cross.sh leaves it to native runs.
func TestZoneIndexName(t *testing.T) {
	if i, err := zoneIndex("lo"); err != nil || i == 0 {
		t.Errorf("lo: %d, %v", i, err)
	}
	if _, err := zoneIndex("no-such-interface"); err == nil || !strings.Contains(err.Error(), "no such") {
		t.Errorf("unknown interface: %v", err)
	}
}
