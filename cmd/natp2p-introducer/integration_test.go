//go:build integration

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/probe/stun"
)

// introducerBin is the natp2p-introducer binary under test, built once by
// TestMain.
var introducerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natp2p-introducer-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	introducerBin = filepath.Join(dir, "natp2p-introducer")
	build := exec.Command("go", "build", "-o", introducerBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building natp2p-introducer: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireCoturn skips t when coturn's tools are missing, or fails it when
// NATP2P_REQUIRE_LAB=1.
func requireCoturn(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"turnserver", "turnutils_natdiscovery"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found (Debian package coturn): %v", tool, err)
			if os.Getenv(labtest.RequireEnv) == "1" {
				t.Fatalf("lab required (%s=1): %s", labtest.RequireEnv, msg)
			}
			t.Skip("skipping: " + msg)
		}
	}
}

// The lab's server addresses and ports, for both servers.
const (
	primaryIP   = "203.0.113.10"
	alternateIP = "203.0.113.11"
	port        = "3478"
	altPort     = "3479"
)

// server is an RFC 5780 server run in the lab's WAN namespace.
type server struct {
	name string
	argv func(dir string) []string
}

var servers = []server{
	{"natp2p-introducer", func(string) []string {
		return []string{introducerBin, "--primary", primaryIP, "--alternate", alternateIP,
			"--port", port, "--alt-port", altPort, "--log-level", "debug"}
	}},
	{"coturn", lab.CoturnArgs},
}

// start runs s in l's WAN namespace until the returned stop is called;
// its output goes to a file, logged when the test fails.
func (s server) start(t *testing.T, l *lab.Lab) (stop func() *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "out.log")
	argv := s.argv(dir)
	t.Logf("%s: %s", s.name, strings.Join(argv, " "))
	ctx, cancel := context.WithCancel(context.Background())
	shArgs := append([]string{"-c", `exec "$@" >"$0" 2>&1`, logFile}, argv...)
	cmd, err := l.WAN.Start(ctx, "sh", shArgs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(logFile)
			t.Logf("%s output:\n%s", s.name, out)
		}
	})
	waitSTUN(t, l, s.name)
	return func() *exec.Cmd {
		cancel()
		l.WAN.Wait(cmd) // its ports are free for the next server
		return cmd
	}
}

// waitSTUN waits until both server addresses answer a Binding request
// sent from inside the WAN namespace.
func waitSTUN(t *testing.T, l *lab.Lab, name string) {
	t.Helper()
	var conn *net.UDPConn
	err := l.WAN.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, to := range []string{primaryIP + ":" + port, alternateIP + ":" + altPort} {
		if err := ping(conn, netip.MustParseAddrPort(to), 10*time.Second); err != nil {
			t.Fatalf("%s does not answer on %s: %v", name, to, err)
		}
	}
}

func ping(conn *net.UDPConn, to netip.AddrPort, limit time.Duration) error {
	req := (&stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID()}).Marshal(true)
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		conn.WriteToUDPAddrPort(req, to)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := conn.ReadFromUDPAddrPort(buf); err == nil {
			if m, err := stun.Parse(buf[:n]); err == nil && m.Type == stun.TypeBindingSuccess {
				return nil
			}
		}
	}
	return fmt.Errorf("no Binding response within %v", limit)
}

// classification is natdiscovery's verdict lines.
type classification struct {
	Mapping, Filtering string
}

var verdict = regexp.MustCompile(`(?m)^(NAT with .*|No NAT!.*)$`)

// natdiscovery runs coturn's RFC 5780 client from the LAN host against
// the primary address and parses its verdicts; it also returns the
// whole output.
func natdiscovery(t *testing.T, l *lab.Lab, extra ...string) (classification, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"-m", "-f", "-p", port}, extra...)
	args = append(args, primaryIP)
	out, err := l.LAN[0].Run(ctx, "turnutils_natdiscovery", args...)
	t.Logf("turnutils_natdiscovery %s:\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("turnutils_natdiscovery: %v", err)
	}
	var c classification
	for _, line := range verdict.FindAllString(string(out), -1) {
		switch {
		case strings.HasSuffix(line, "Mapping!"), strings.HasPrefix(line, "No NAT!"):
			c.Mapping = line
		case strings.HasSuffix(line, "Filtering!"):
			c.Filtering = line
		}
	}
	return c, string(out)
}

// TestNATDiscoveryInterop runs turnutils_natdiscovery from behind real
// Linux NATs against natp2p-introducer and against coturn's turnserver
// on the same addresses and ports: both must classify the NAT the same
// way, and as the lab's known truth.
func TestNATDiscoveryInterop(t *testing.T) {
	requireCoturn(t)
	const apdf = "NAT with Address and Port Dependent Filtering!" // Linux conntrack
	tests := []struct {
		nat  lab.NAT
		want classification
	}{
		{lab.Masquerade, classification{"NAT with Endpoint Independent Mapping!", apdf}},
		{lab.MasqueradeFullyRandom, classification{"NAT with Address and Port Dependent Mapping!", apdf}},
	}
	for _, tt := range tests {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat, LANHosts: 1})
			for _, s := range servers {
				for _, padded := range []bool{false, true} {
					got := discover(t, l, s, padded)
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("%s (padding %v): classification (-want +got):\n%s", s.name, padded, diff)
					}
				}
			}
		})
	}
}

// discover runs natdiscovery against s (with -P: 1500 bytes of PADDING
// in every request when padded).
func discover(t *testing.T, l *lab.Lab, s server, padded bool) classification {
	t.Helper()
	stop := s.start(t, l)
	var extra []string
	if padded {
		extra = []string{"-P"}
	}
	c, out := natdiscovery(t, l, extra...)
	cmd := stop()
	if s.name == "natp2p-introducer" {
		if cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("natp2p-introducer exited %v after SIGTERM, want 0", cmd.ProcessState)
		}
		checkOtherAddress(t, out)
	}
	return c
}

var (
	originLine = regexp.MustCompile(`Response origin: : (\S+)`)
	otherLine  = regexp.MustCompile(`Other addr: : (\S+)`)
	flipped    = map[string]string{primaryIP: alternateIP, alternateIP: primaryIP, port: altPort, altPort: port}
)

// checkOtherAddress checks the RFC 5780 6.1 table 1 rule in natdiscovery's
// printout: for a request without CHANGE-REQUEST flags (the only ones
// answered behind the lab's address-and-port-dependent filtering), the
// response comes from the address the request went to (Da:Dp) and
// OTHER-ADDRESS is the other IP and the other port (Ca:Cp). (coturn 4.6.1
// answers a request to A2:P1 with OTHER-ADDRESS A2:P2.)
func checkOtherAddress(t *testing.T, out string) {
	t.Helper()
	blocks := strings.Split(out, "RFC 5780 response")[1:]
	for i, b := range blocks {
		origin, other := originLine.FindStringSubmatch(b), otherLine.FindStringSubmatch(b)
		if origin == nil || other == nil {
			t.Errorf("response %d: no origin or other address in %q", i+1, b)
			continue
		}
		ip, p, _ := strings.Cut(origin[1], ":")
		if want := flipped[ip] + ":" + flipped[p]; other[1] != want {
			t.Errorf("response %d from %s: OTHER-ADDRESS %s, want %s", i+1, origin[1], other[1], want)
		}
	}
	if len(blocks) < 3 {
		t.Errorf("%d responses in natdiscovery's output, want at least 3", len(blocks))
	}
}
