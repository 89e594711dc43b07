//go:build integration

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/internal/labagent"
	"github.com/natp2p/natp2p/report"
)

// agentBin is the natp2p-agent binary under test and introducerBin the
// introducer the probe tests run against, built once by TestMain.
var agentBin, introducerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natp2p-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	agentBin, introducerBin = filepath.Join(dir, "natp2p-agent"), filepath.Join(dir, "natp2p-introducer")
	for bin, pkg := range map[string]string{agentBin: ".", introducerBin: "../natp2p-introducer"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server returns the WAN server address i (0 or 1) at port.
func server(l *lab.Lab, i int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(l.ServerAddrs[i], port)
}

// withEcho starts UDP and TCP echo servers on both server addresses, ports
// 3478 and 3479.
func withEcho(t *testing.T, l *lab.Lab) {
	t.Helper()
	var addrs []netip.AddrPort
	for i := range l.ServerAddrs {
		addrs = append(addrs, server(l, i, 3478), server(l, i, 3479))
	}
	if err := l.WAN.UDPEcho(addrs...); err != nil {
		t.Fatal(err)
	}
	if err := l.WAN.TCPEcho(addrs...); err != nil {
		t.Fatal(err)
	}
}

// newAgent returns the binary under test, set up for l.
func newAgent(t *testing.T, l *lab.Lab) *labagent.Agent {
	return labagent.New(l, agentBin, t.TempDir())
}

// startDaemon starts `natp2p-agent run` in the router and waits until it
// answers.
func startDaemon(t *testing.T, l *lab.Lab, args ...string) *labagent.Agent {
	t.Helper()
	a := newAgent(t, l)
	if err := a.Start(context.Background(), args...); err != nil {
		t.Fatal(err)
	}
	return a
}

// getReport runs `report --json`, validated against the schema, and checks
// that the exit status agrees with the verdicts.
func getReport(t *testing.T, a *labagent.Agent) (report.Report, int) {
	t.Helper()
	r, code, err := a.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := r.Failed(); (code == exitFail) != want {
		t.Errorf("exit status %d with Failed() = %v", code, want)
	}
	return r, code
}

// waitFor polls cond every 100 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %s)", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitVerdict waits until the daemon reports want for id.
func waitVerdict(t *testing.T, a *labagent.Agent, id string, want report.Verdict) *report.Check {
	t.Helper()
	var c *report.Check
	waitFor(t, 10*time.Second, id+" "+string(want), func() (bool, string) {
		r, _ := getReport(t, a)
		c = r.Check(id)
		return c.Verdict == want, fmt.Sprintf("%s %s", c.Verdict, c.Summary)
	})
	return c
}

// udp opens a UDP socket on a LAN host and sends to every dst, expecting
// every echo back.
func udp(t *testing.T, h *lab.NS, src netip.AddrPort, dsts ...netip.AddrPort) *lab.UDPSession {
	t.Helper()
	s, err := h.OpenUDP(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Send(context.Background(), dsts...)
	if err != nil || len(got) != len(dsts) {
		t.Fatalf("send from %s: %d of %d echoes, %v", src, len(got), len(dsts), err)
	}
	return s
}

// publicEndpoints returns the UDP public endpoints conntrack shows for
// private.
func publicEndpoints(t *testing.T, l *lab.Lab, private netip.AddrPort) []netip.AddrPort {
	t.Helper()
	return kernelPublics(t, l, "udp", private)
}

func TestMasqueradeKeepsMappings(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	withEcho(t, l)
	a := startDaemon(t, l)
	priv := netip.AddrPortFrom(l.LAN[0].Addr(), 40000)
	udp(t, l.LAN[0], priv, server(l, 0, 3478), server(l, 1, 3478), server(l, 0, 3479))
	tcp, err := l.LAN[0].DialTCP(context.Background(), netip.AddrPortFrom(l.LAN[0].Addr(), 40100),
		server(l, 0, 3478), server(l, 1, 3478))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	waitVerdict(t, a, report.IDMappingUDP, report.Pass)
	waitVerdict(t, a, report.IDMappingTCP, report.Pass)
	r, _ := getReport(t, a)
	for id, want := range map[string]report.Verdict{report.IDPortOverloading: report.Pass,
		report.IDPortPreservation: report.Pass, report.IDPoolPaired: report.Pass} {
		if c := r.Check(id); c.Verdict != want {
			t.Errorf("%s = %s (%s), want %s", id, c.Verdict, c.Summary, want)
		}
	}
	if r.Mappings.UDP != 1 || r.Mappings.TCP != 1 || r.Flows.UDP != 3 || r.Flows.TCP != 2 {
		t.Errorf("mappings %+v, flows %+v; want 1/1 and 3/2", r.Mappings, r.Flows)
	}
}

func TestFullyRandomBreaksMapping(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom})
	withEcho(t, l)
	a := startDaemon(t, l)
	priv := netip.AddrPortFrom(l.LAN[0].Addr(), 40001)
	udp(t, l.LAN[0], priv, server(l, 0, 3478), server(l, 1, 3478), server(l, 0, 3479))
	pubs := publicEndpoints(t, l, priv)
	if len(pubs) < 2 {
		t.Fatalf("the kernel gave %s one public endpoint %v under fully-random; the lab is not what it should be", priv, pubs)
	}
	c := waitVerdict(t, a, report.IDMappingUDP, report.Fail)
	if len(c.Evidence) == 0 {
		t.Fatalf("mapping.udp FAIL without evidence: %+v", c)
	}
	ev := c.Evidence[0]
	if !strings.HasPrefix(ev, priv.String()+"/udp -> ") {
		t.Errorf("evidence %q does not name the private endpoint %s", ev, priv)
	}
	named := 0
	for _, p := range pubs {
		if strings.Contains(ev, p.String()+" (to ") {
			named++
		}
	}
	if named < 2 {
		t.Errorf("evidence %q names %d of the public endpoints %v, want two", ev, named, pubs)
	}
}

func TestPortOverloading(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	withEcho(t, l)
	a := startDaemon(t, l)
	udp(t, l.LAN[0], netip.AddrPortFrom(l.LAN[0].Addr(), 40002), server(l, 0, 3478))
	udp(t, l.LAN[1], netip.AddrPortFrom(l.LAN[1].Addr(), 40002), server(l, 1, 3478))
	c := waitVerdict(t, a, report.IDPortOverloading, report.Fail)
	want := fmt.Sprintf("%s/udp shared by %s:40002", netip.AddrPortFrom(l.RouterWAN, 40002), l.LAN[0].Addr())
	if len(c.Evidence) == 0 || !strings.HasPrefix(c.Evidence[0], want) {
		t.Errorf("evidence %q, want it to start with %q", c.Evidence, want)
	}
}

func TestUDPTimeoutCheck(t *testing.T) {
	for _, tt := range []struct {
		timeout int
		want    report.Verdict
		seconds string
	}{{0, report.Fail, "udp_timeout = 30 s"}, {300, report.Pass, "udp_timeout = 300 s"}} {
		t.Run(fmt.Sprint(tt.timeout), func(t *testing.T) {
			l := labtest.New(t, lab.Config{UDPTimeout: tt.timeout})
			r, _ := getReport(t, newAgent(t, l))
			c := r.Check(report.IDTimeoutUDP)
			if c.Verdict != tt.want || len(c.Evidence) != 1 || !strings.HasPrefix(c.Evidence[0], tt.seconds) {
				t.Errorf("timeout.udp = %s %q %q, want %s and %q", c.Verdict, c.Summary, c.Evidence, tt.want, tt.seconds)
			}
		})
	}
}

func TestSnapshotWithoutDaemon(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom})
	withEcho(t, l)
	udp(t, l.LAN[0], netip.AddrPortFrom(l.LAN[0].Addr(), 40003), server(l, 0, 3478), server(l, 1, 3478), server(l, 1, 3479))
	r, code := getReport(t, newAgent(t, l))
	if r.Source != report.SourceSnapshot || r.Conntrack != nil {
		t.Errorf("source %q, conntrack stats %+v; want a snapshot without stats", r.Source, r.Conntrack)
	}
	if c := r.Check(report.IDMappingUDP); c.Verdict != report.Fail || code != exitFail {
		t.Errorf("mapping.udp = %s, exit %d; want FAIL, %d", c.Verdict, code, exitFail)
	}
	text, _, _, err := newAgent(t, l).Run(context.Background(), "report", "--wan", l.WANIface, "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "one-shot snapshot, not a running natp2p-agent") || !strings.Contains(text, "FAIL    mapping.udp") {
		t.Errorf("text report lacks the snapshot note or the failing check:\n%s", text)
	}
}

func TestExitZeroWhenNothingFails(t *testing.T) {
	l := labtest.New(t, lab.Config{UDPTimeout: 300})
	for _, name := range report.TransitorySysctls {
		if _, err := l.Router.Run(context.Background(), "sysctl", "-qw", name+"=240"); err != nil {
			t.Fatal(err)
		}
	}
	r, code := getReport(t, newAgent(t, l))
	if code != exitOK || r.Failed() {
		t.Errorf("exit %d with checks %+v; want 0", code, r.Checks)
	}
}

func TestPoolPairing(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.SNATPool, LANHosts: 4})
	withEcho(t, l)
	a := startDaemon(t, l)
	for i, h := range l.LAN {
		for s := range l.ServerAddrs {
			udp(t, h, netip.AddrPortFrom(h.Addr(), uint16(41000+10*i+s)), server(l, s, 3478))
		}
	}
	unpaired := unpairedHosts(t, l)
	if len(unpaired) == 0 {
		t.Fatal("the SNAT pool gave every host one address; the lab cannot show unpaired pooling")
	}
	c := waitVerdict(t, a, report.IDPoolPaired, report.Fail)
	if len(c.Evidence) == 0 || !strings.HasPrefix(c.Evidence[0], unpaired[0]) && !containsPrefix(c.Evidence, unpaired) {
		t.Errorf("evidence %q names none of the unpaired hosts %v", c.Evidence, unpaired)
	}
}

// unpairedHosts are the LAN hosts conntrack shows behind two public IPs.
func unpairedHosts(t *testing.T, l *lab.Lab) []string {
	flows, err := l.Flows(context.Background(), "-p", "udp")
	if err != nil {
		t.Fatal(err)
	}
	pubs := map[netip.Addr]map[netip.Addr]bool{}
	for _, f := range flows {
		if pubs[f.OrigSrc.Addr()] == nil {
			pubs[f.OrigSrc.Addr()] = map[netip.Addr]bool{}
		}
		pubs[f.OrigSrc.Addr()][f.ReplyDst.Addr()] = true
	}
	var out []string
	for h, p := range pubs {
		if len(p) > 1 {
			out = append(out, h.String()+"/udp")
		}
	}
	return out
}

func containsPrefix(lines, prefixes []string) bool {
	for _, l := range lines {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				return true
			}
		}
	}
	return false
}

func TestNotRoot(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	// A socket path that does not exist (not one nobody may not look into),
	// so that report goes on to dump conntrack and meets the kernel's EPERM.
	cmd := l.Router.Command(context.Background(), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		agentBin, "report", "--wan", l.WANIface, "--socket", "/nonexistent/natp2p/agent.sock")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitUsage {
		t.Fatalf("report as nobody: %v, want exit %d\n%s", err, exitUsage, out)
	}
	msg := strings.TrimSpace(string(out))
	if strings.Count(msg, "\n") > 0 || !strings.Contains(msg, "permission denied (conntrack dump): run as root") {
		t.Errorf("report as nobody said %q, want one line: conntrack dump refused, run as root", msg)
	}
}

// TestResyncAfterOverflow floods the NAT with 50,000 new flows while the
// daemon's event socket has a buffer far too small for them: the kernel
// drops events (ENOBUFS), the daemon resyncs, and afterwards its mapping
// table equals what conntrack -L shows, flow for flow.
func TestResyncAfterOverflow(t *testing.T) {
	const flows = 50000
	l := labtest.New(t, lab.Config{UDPTimeout: 600})
	a := startDaemon(t, l, "--event-buffer", "65536")
	sent, took, err := l.LAN[0].FloodUDP(context.Background(), l.ServerAddrs, flows, 50)
	if err != nil || sent != flows {
		t.Fatalf("flood: sent %d of %d: %v", sent, flows, err)
	}
	t.Logf("flooded %d flows in %v (%.0f flows/s)", sent, took, float64(sent)/took.Seconds())
	var diff string
	waitFor(t, 30*time.Second, "the daemon's table to equal conntrack -L", func() (bool, string) {
		want, err := labagent.KernelMappings(context.Background(), l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Mappings(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		diff = cmp.Diff(want, got)
		return diff == "" && len(want) > 0, fmt.Sprintf("%d kernel mappings, %d daemon mappings", len(want), len(got))
	})
	r, _ := getReport(t, a)
	if r.Conntrack == nil || r.Conntrack.Overflows == 0 || r.Conntrack.Resyncs == 0 {
		t.Errorf("conntrack stats %+v: want at least one overflow and resync with a 64 KiB buffer", r.Conntrack)
	}
	if got := r.Flows.UDP; got < flows {
		t.Errorf("report counts %d UDP flows, want at least %d", got, flows)
	}
}

// TestWANChangeResyncs adds an address to the WAN interface under a running
// daemon: the flows it keeps depend on the WAN addresses, so it resyncs
// from a dump (within the 5 s refresh), not because events were lost.
func TestWANChangeResyncs(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	a := startDaemon(t, l)
	if _, err := l.Router.Run(context.Background(), "ip", "addr", "add", "203.0.113.2/24", "dev", l.WANIface); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a resync after the WAN change", func() (bool, string) {
		r, _ := getReport(t, a)
		return r.Conntrack.Resyncs >= 1 && r.Conntrack.Overflows == 0, fmt.Sprintf("%+v, WAN %v", *r.Conntrack, r.WAN)
	})
	r, _ := getReport(t, a)
	if len(r.WAN) != 1 || len(r.WAN[0].Addrs) != 2 {
		t.Errorf("report's WAN %+v, want both addresses", r.WAN)
	}
}

// TestDumpThenReportFrom saves a router's state with dump and reports on it
// elsewhere with report --from: the verdicts equal a live snapshot's.
func TestDumpThenReportFrom(t *testing.T) {
	l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom})
	withEcho(t, l)
	udp(t, l.LAN[0], netip.AddrPortFrom(l.LAN[0].Addr(), 40004), server(l, 0, 3478), server(l, 1, 3478), server(l, 1, 3479))
	a := newAgent(t, l)
	live, _ := getReport(t, a)
	saved := filepath.Join(t.TempDir(), "snapshot.json")
	if _, stderr, code, err := a.Run(context.Background(), "dump", "--wan", l.WANIface, "--output", saved); err != nil || code != 0 {
		t.Fatalf("dump: exit %d, %v: %s", code, err, stderr)
	}
	out, err := exec.Command(agentBin, "report", "--json", "--from", saved).Output() // on the host: no kernel needed
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if err := report.Validate(out); err != nil {
		t.Fatal(err)
	}
	var fromFile report.Report
	if err := json.Unmarshal(out, &fromFile); err != nil {
		t.Fatal(err)
	}
	for i, c := range live.Checks {
		if got := fromFile.Checks[i]; got.Verdict != c.Verdict || got.Summary != c.Summary {
			t.Errorf("%s: from the file %s %q, live %s %q", c.ID, got.Verdict, got.Summary, c.Verdict, c.Summary)
		}
	}
	if fromFile.Check(report.IDMappingUDP).Verdict != report.Fail {
		t.Errorf("mapping.udp from the saved fully-random router = %s, want FAIL", fromFile.Check(report.IDMappingUDP).Verdict)
	}
}
