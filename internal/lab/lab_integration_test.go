//go:build integration && linux

package lab_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

var backends = []lab.Backend{lab.Nftables, lab.Iptables}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// servers starts UDP and TCP echo servers on both WAN addresses, ports
// 3478 and 3479, and returns the endpoints (addr x port order).
func servers(t *testing.T, l *lab.Lab) []netip.AddrPort {
	t.Helper()
	var eps []netip.AddrPort
	for _, a := range l.ServerAddrs {
		for _, p := range []uint16{3478, 3479} {
			eps = append(eps, netip.AddrPortFrom(a, p))
		}
	}
	if err := l.WAN.UDPEcho(eps...); err != nil {
		t.Fatal(err)
	}
	if err := l.WAN.TCPEcho(eps...); err != nil {
		t.Fatal(err)
	}
	return eps
}

// probe sends from host:src to dsts, asserts every echo came back and
// returns the router's conntrack flows originated by the session's socket.
func probe(t *testing.T, l *lab.Lab, host *lab.NS, srcPort uint16, dsts ...netip.AddrPort) []lab.Flow {
	t.Helper()
	ctx := testCtx(t)
	s, err := host.OpenUDP(netip.AddrPortFrom(host.Addr(), srcPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	replied, err := s.Send(ctx, dsts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(replied) != len(dsts) {
		t.Fatalf("echo replies from %v, want all of %v", replied, dsts)
	}
	return flowsFrom(t, l, "udp", s.Local, len(dsts))
}

// flowsFrom returns the conntrack flows of proto whose original source is
// src, asserting there are want of them.
func flowsFrom(t *testing.T, l *lab.Lab, proto string, src netip.AddrPort, want int) []lab.Flow {
	t.Helper()
	all, err := l.Flows(testCtx(t), "-p", proto)
	if err != nil {
		t.Fatal(err)
	}
	var out []lab.Flow
	for _, f := range all {
		if f.OrigSrc == src {
			out = append(out, f)
		}
	}
	if len(out) != want {
		t.Fatalf("conntrack: %d %s flows from %v, want %d: %+v", len(out), proto, src, want, all)
	}
	return out
}

// checkPeers asserts the WAN server saw each flow's translated source.
func checkPeers(t *testing.T, l *lab.Lab, flows []lab.Flow) {
	t.Helper()
	for _, f := range flows {
		peers := l.WAN.Peers(f.OrigDst)
		found := false
		for _, p := range peers {
			found = found || p == f.ReplyDst
		}
		if !found {
			t.Errorf("server %v saw %v, conntrack says public endpoint %v", f.OrigDst, peers, f.ReplyDst)
		}
	}
}

func TestMasqueradeKeepsPort(t *testing.T) {
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			l := labtest.New(t, lab.Config{NAT: lab.Masquerade, Backend: b})
			eps := servers(t, l)
			flows := probe(t, l, l.LAN[0], 40000, eps[0], eps[2])
			for _, f := range flows {
				if f.ReplyDst != netip.AddrPortFrom(l.RouterWAN, 40000) {
					t.Errorf("flow %+v: public endpoint %v, want %v:40000", f, f.ReplyDst, l.RouterWAN)
				}
				if f.Unreplied {
					t.Errorf("flow %+v is unreplied although the echo arrived", f)
				}
			}
			checkPeers(t, l, flows)
		})
	}
}

func TestMasqueradeFullyRandomChangesPort(t *testing.T) {
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: b})
			eps := servers(t, l)
			flows := probe(t, l, l.LAN[1], 40001, eps[0], eps[1], eps[2])
			ports := map[uint16]bool{}
			for _, f := range flows {
				ports[f.ReplyDst.Port()] = true
				if f.ReplyDst.Addr() != l.RouterWAN {
					t.Errorf("flow %+v: public address %v, want %v", f, f.ReplyDst.Addr(), l.RouterWAN)
				}
			}
			if len(ports) < 2 {
				t.Errorf("fully-random masquerade gave one public port %v for 3 destinations", ports)
			}
			checkPeers(t, l, flows)
		})
	}
}

func TestSNATPoolUsesPoolAddresses(t *testing.T) {
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			l := labtest.New(t, lab.Config{NAT: lab.SNATPool, Backend: b, LANHosts: 4})
			eps := servers(t, l)
			pool := map[netip.Addr]bool{l.RouterWAN: true, netip.MustParseAddr("203.0.113.2"): true}
			used := map[netip.Addr]bool{}
			for i, h := range l.LAN {
				// Two sockets per host, first contacting different servers:
				// the pool address is hashed from the first flow's IPs.
				for k, dsts := range [][]netip.AddrPort{{eps[0], eps[2]}, {eps[2], eps[0]}} {
					port := uint16(42000 + 10*i + k)
					flows := probe(t, l, h, port, dsts...)
					checkSNATFlows(t, pool, port, flows)
					used[flows[0].ReplyDst.Addr()] = true
					checkPeers(t, l, flows)
				}
			}
			if len(used) != 2 {
				t.Errorf("8 host/first-destination pairs used pool addresses %v, want both", used)
			}
		})
	}
}

// checkSNATFlows asserts both flows of one socket share one public
// endpoint from the pool, with the port preserved.
func checkSNATFlows(t *testing.T, pool map[netip.Addr]bool, port uint16, flows []lab.Flow) {
	t.Helper()
	for _, f := range flows {
		if !pool[f.ReplyDst.Addr()] || f.ReplyDst.Port() != port {
			t.Errorf("flow %+v: public endpoint %v: want a pool address and port %d", f, f.ReplyDst, port)
		}
		if f.ReplyDst != flows[0].ReplyDst {
			t.Errorf("one socket got public endpoints %v and %v", flows[0].ReplyDst, f.ReplyDst)
		}
	}
}

func TestNoNATRoutesPrivateSource(t *testing.T) {
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			l := labtest.New(t, lab.Config{NAT: lab.NoNAT, Backend: b})
			eps := servers(t, l)
			flows := probe(t, l, l.LAN[0], 40003, eps[0], eps[3])
			for _, f := range flows {
				if f.ReplyDst != f.OrigSrc {
					t.Errorf("flow %+v: reply destination %v, want private source %v", f, f.ReplyDst, f.OrigSrc)
				}
			}
			checkPeers(t, l, flows)
		})
	}
}

func TestTCPMasquerade(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})
	eps := servers(t, l)
	src := netip.AddrPortFrom(l.LAN[0].Addr(), 41000)
	c, err := l.LAN[0].DialTCP(testCtx(t), src, eps[0], eps[2])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, conn := range c.(*lab.TCPSession).Conns {
		echoOnce(t, conn)
	}
	flows := flowsFrom(t, l, "tcp", src, 2)
	for _, f := range flows {
		if f.State != "ESTABLISHED" || f.ReplyDst != netip.AddrPortFrom(l.RouterWAN, 41000) {
			t.Errorf("tcp flow %+v: want ESTABLISHED with public endpoint %v:41000", f, l.RouterWAN)
		}
	}
	checkPeers(t, l, flows)
}

func echoOnce(t *testing.T, conn interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
	SetDeadline(time.Time) error
}) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	for got := 0; got < len(buf); {
		k, err := conn.Read(buf[got:])
		if err != nil {
			t.Fatalf("tcp echo: %v", err)
		}
		got += k
	}
	if string(buf) != "hello" {
		t.Fatalf("tcp echo returned %q", buf)
	}
}

func TestUDPTimeoutIsPerNamespace(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{UDPTimeout: 7})
	ctx := testCtx(t)
	for _, key := range []string{"net.netfilter.nf_conntrack_udp_timeout", "net.netfilter.nf_conntrack_udp_timeout_stream"} {
		out, err := l.Router.Run(ctx, "sysctl", "-n", key)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != "7" {
			t.Errorf("router %s = %s, want 7", key, got)
		}
	}
	eps := servers(t, l)
	probe(t, l, l.LAN[0], 40004, eps[0])
	out, err := l.Conntrack(ctx, "-L", "-p", "udp", "--orig-port-src", "40004")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if fields := strings.Fields(line); len(fields) > 3 && fields[0] == "udp" {
			if ttl, err := strconv.Atoi(fields[2]); err != nil || ttl > 7 {
				t.Errorf("flow timeout %q, want <= 7: %s", fields[2], line)
			}
			return
		}
	}
	t.Fatalf("no udp flow in conntrack output %q", out)
}

func TestFloodUDP(t *testing.T) {
	const flows = 50000
	if max := readInt(t, "/proc/sys/net/netfilter/nf_conntrack_max"); max < flows+1000 {
		t.Fatalf("host nf_conntrack_max %d < %d: it is read-only inside namespaces, raise it on the host", max, flows+1000)
	}
	l := labtest.New(t, lab.Config{})
	ctx := testCtx(t)
	sent, elapsed, err := l.LAN[0].FloodUDP(ctx, l.ServerAddrs, flows, 10)
	if err != nil {
		t.Fatal(err)
	}
	if sent != flows {
		t.Fatalf("sent %d datagrams, want %d", sent, flows)
	}
	t.Logf("flood: %d flows in %v (%.0f flows/s)", sent, elapsed, float64(sent)/elapsed.Seconds())
	if elapsed > 10*time.Second {
		t.Errorf("flood took %v, want a few seconds at most", elapsed)
	}
	if n := waitCount(t, l, flows); n < flows {
		t.Errorf("router conntrack count %d, want >= %d", n, flows)
	}
}

// waitCount polls `conntrack -C` for up to 3 s until it reaches want.
func waitCount(t *testing.T, l *lab.Lab, want int) int {
	t.Helper()
	n := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, err := l.Conntrack(testCtx(t), "-C")
		if err != nil {
			t.Fatal(err)
		}
		if n, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
			t.Fatalf("conntrack -C: %q", out)
		}
		if n >= want {
			break
		}
	}
	return n
}

func readInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	labtest.Require(t, lab.Nftables)
	l, err := lab.New(testCtx(t), lab.Config{LANHosts: 3, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	names := l.Namespaces()
	if len(names) != 5 {
		t.Fatalf("namespaces %v, want router, WAN and 3 LAN hosts", names)
	}
	cmd, err := l.LAN[2].Start(testCtx(t), "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	servers(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.Success() {
		t.Errorf("started process not killed and reaped: %v", cmd.ProcessState)
	}
	list, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(string(list), n) {
			t.Errorf("namespace %s still listed after Close:\n%s", n, list)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestDoEntersNamespace(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{LANHosts: 1})
	out, err := l.LAN[0].Run(testCtx(t), "ip", "-br", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(string(out), "198.51.100.10/24") {
		t.Fatalf("eth0 in LAN host: %q, %v", out, err)
	}
	var names []string
	err = l.Router.Do(func() error {
		ifs, err := netInterfaces()
		names = ifs
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "br-lan lanp0 lo wan0"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("router interfaces %q, want %q", got, want)
	}
}

func TestSweepRemovesOnlyDeadOwners(t *testing.T) {
	labtest.Require(t, lab.Nftables)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := "np" + strconv.Itoa(dead.Process.Pid) + "-abcdef-r"
	live := "np" + strconv.Itoa(os.Getpid()) + "-abcdef-r"
	for _, n := range []string{stale, live} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	defer exec.Command("ip", "netns", "del", live).Run()
	if err := lab.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + stale); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s survived Sweep (stat: %v)", stale, err)
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("live namespace %s removed by Sweep: %v", live, err)
	}
}

// TestFailedNewTearsDown makes the last setup step fail (the kernel rejects
// a huge UDP timeout) and checks New names the command and removes every
// namespace it created.
func TestFailedNewTearsDown(t *testing.T) {
	labtest.Require(t, lab.Nftables)
	before := ownNamespaces(t)
	_, err := lab.New(testCtx(t), lab.Config{UDPTimeout: 1<<31 - 1, Logf: t.Logf})
	if err == nil {
		t.Fatal("New succeeded with an impossible UDP timeout")
	}
	if msg := err.Error(); !strings.Contains(msg, "sysctl") || !strings.Contains(msg, "Invalid argument") {
		t.Errorf("error %q does not name the failing command and its output", msg)
	}
	if after := ownNamespaces(t); len(after) != len(before) {
		t.Errorf("namespaces left behind: before %v, after %v", before, after)
	}
}

// ownNamespaces lists the namespaces created by this test process.
func ownNamespaces(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "np"+strconv.Itoa(os.Getpid())+"-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func netInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names, nil
}
