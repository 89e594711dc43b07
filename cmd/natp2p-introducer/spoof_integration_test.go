//go:build integration

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/stun"
)

// The spoofed flood: floodSources requests, each from its own address of
// spoofNet (the shared address space, routed to the attacker), sent in
// floodTime.
const (
	floodSources = 60000
	floodTime    = time.Second
)

var spoofNet = netip.MustParsePrefix("100.64.0.0/10")

// TestSpoofedFlood: a flood of Binding requests from many spoofed sources,
// each within its own rate, gets at most the global bound back, counted
// on the server's side of the wire (the UDP datagrams its namespace
// sends); a legitimate client is answered once the flood is over.
func TestSpoofedFlood(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.NoNAT, LANHosts: 2})
	routeSpoofed(t, l)
	introducerWith().start(t, l)
	srv := netip.MustParseAddrPort(primaryIP + ":" + port)
	before := wireCounts(t, l.WAN)
	start := time.Now()
	sent := floodSpoofed(t, l.LAN[0], srv)
	time.Sleep(100 * time.Millisecond) // the server's queue drains
	after := wireCounts(t, l.WAN)
	elapsed := time.Since(start)
	replies := after.udpOut - before.udpOut
	bound := introducer.DefaultGlobalRate*elapsed.Seconds() + introducer.DefaultGlobalRate/10 + 1
	t.Logf("%d spoofed requests in %v: %d replies (bound %.0f), %d bytes in and %d out on the server's eth0, Ethernet headers included (%.2fx)",
		sent, elapsed.Round(time.Millisecond), replies, bound, after.rxBytes-before.rxBytes,
		after.txBytes-before.txBytes, float64(after.txBytes-before.txBytes)/float64(after.rxBytes-before.rxBytes))
	if float64(replies) > bound {
		t.Errorf("%d replies to a spoofed flood in %v; the global bound allows %.0f", replies, elapsed, bound)
	}
	if replies < 1000 {
		t.Errorf("only %d replies: the flood did not reach the server", replies)
	}
	if err := udpBinding(l.LAN[1], srv); err != nil {
		t.Errorf("after the flood, a legitimate client: %v", err)
	}
}

// routeSpoofed routes spoofNet from the server to the attacker (LAN host
// 0), through the router, so that replies to the spoofed sources leave
// the server as they would on the internet.
func routeSpoofed(t *testing.T, l *lab.Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range []struct {
		ns  *lab.NS
		via netip.Addr
	}{{l.WAN, l.RouterWAN}, {l.Router, l.LAN[0].Addr()}} {
		if _, err := r.ns.Run(ctx, "ip", "route", "add", spoofNet.String(), "via", r.via.String()); err != nil {
			t.Fatal(err)
		}
	}
}

// counts are a namespace's UDP datagrams sent (/proc/net/snmp) and
// eth0's bytes received and sent.
type counts struct {
	udpOut, rxBytes, txBytes uint64
}

func wireCounts(t *testing.T, ns *lab.NS) counts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := ns.Run(ctx, "sh", "-c", "cat /proc/net/snmp /sys/class/net/eth0/statistics/rx_bytes "+
		"/sys/class/net/eth0/statistics/tx_bytes")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var c counts
	c.udpOut = snmpField(t, lines, "Udp:", "OutDatagrams")
	c.rxBytes, _ = strconv.ParseUint(lines[len(lines)-2], 10, 64)
	c.txBytes, _ = strconv.ParseUint(lines[len(lines)-1], 10, 64)
	return c
}

// snmpField reads a counter of /proc/net/snmp: a line of names and the
// next of values, both starting with proto.
func snmpField(t *testing.T, lines []string, proto, name string) uint64 {
	t.Helper()
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != proto || len(values) != len(names) || values[0] != proto {
			continue
		}
		for j, n := range names {
			if n == name {
				v, err := strconv.ParseUint(values[j], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatalf("no %s %s in /proc/net/snmp", proto, name)
	return 0
}

// floodSpoofed sends floodSources Binding requests from ns to srv, each
// with its own source address in spoofNet, paced over floodTime, through
// a raw socket; it returns how many it sent.
func floodSpoofed(t *testing.T, ns *lab.NS, srv netip.AddrPort) int {
	t.Helper()
	sent := 0
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Addr: srv.Addr().As4()}
		pkt := spoofedPacket(srv)
		const batches = 200
		start := time.Now()
		for b := 0; b < batches; b++ {
			for ; sent < floodSources*(b+1)/batches; sent++ {
				binary.BigEndian.PutUint32(pkt[12:], binary.BigEndian.Uint32(spoofNet.Addr().AsSlice())+uint32(sent)+1)
				if err := unix.Sendto(fd, pkt, 0, to); err != nil && err != unix.ENOBUFS {
					return fmt.Errorf("sendto: %w", err)
				}
			}
			time.Sleep(time.Until(start.Add(floodTime * time.Duration(b+1) / batches)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("flood, after %d requests: %v", sent, err)
	}
	return sent
}

// spoofedPacket is an IPv4 datagram (IP_HDRINCL: the kernel fills in the
// header checksum; the UDP checksum is 0, none) carrying a Binding
// request to srv; the source address, at offset 12, is filled in per
// packet.
func spoofedPacket(srv netip.AddrPort) []byte {
	req := (&stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID()}).Marshal(true)
	pkt := make([]byte, 28, 28+len(req))
	pkt[0], pkt[8], pkt[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(pkt[2:], uint16(28+len(req)))
	dst := srv.Addr().As4()
	copy(pkt[16:], dst[:])
	binary.BigEndian.PutUint16(pkt[20:], 40000)
	binary.BigEndian.PutUint16(pkt[22:], srv.Port())
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(req)))
	return append(pkt, req...)
}

// udpBinding runs one Binding over UDP from ns to srv, within 2 s.
func udpBinding(ns *lab.NS, srv netip.AddrPort) error {
	var conn *net.UDPConn
	err := ns.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", nil)
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	return ping(conn, srv, 2*time.Second)
}
