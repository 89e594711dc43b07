//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/probe"
	"github.com/natp2p/natp2p/report"
)

// stunServer starts an RFC 5780 server in the lab's WAN host on both
// server addresses, ports 3478 and 3479, and waits until it answers.
type stunServer func(t *testing.T, l *lab.Lab)

// coturn runs coturn's turnserver as a STUN-only RFC 5780 server.
func coturn(t *testing.T, l *lab.Lab) {
	t.Helper()
	if _, err := exec.LookPath("turnserver"); err != nil {
		labtest.Missing(t, "coturn (turnserver)")
	}
	// -c /dev/null: Debian's /etc/turnserver.conf turns RFC 5780 off.
	args := []string{"-c", "/dev/null", "--stun-only", "--no-cli", "--no-tls", "--no-dtls", "--log-file", "stdout",
		"-L", l.ServerAddrs[0].String(), "-L", l.ServerAddrs[1].String(),
		"--listening-port", "3478", "--alt-listening-port", "3479"}
	startServer(t, l, "turnserver", args...)
}

// stund runs the classic RFC 3489 server.
func stund(t *testing.T, l *lab.Lab) {
	t.Helper()
	if _, err := exec.LookPath("stund"); err != nil {
		labtest.Missing(t, "stun-server (stund)")
	}
	startServer(t, l, "stund", "-h", l.ServerAddrs[0].String(), "-a", l.ServerAddrs[1].String(), "-p", "3478", "-o", "3479")
}

func startServer(t *testing.T, l *lab.Lab, name string, args ...string) {
	t.Helper()
	if _, err := l.WAN.Start(context.Background(), name, args...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, name+" to listen", func() (bool, string) {
		out, _ := l.WAN.Run(context.Background(), "ss", "-uln")
		return strings.Count(string(out), ":3478") >= 2 && strings.Count(string(out), ":3479") >= 2, string(out)
	})
}

// runProbe runs natp2p-agent probe on a LAN host and returns its report.
func runProbe(t *testing.T, l *lab.Lab, args ...string) probe.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append([]string{"probe", "--json", "--introducer", net.JoinHostPort(l.ServerAddrs[0].String(), "3478")}, args...)
	out, err := l.LAN[0].Command(ctx, agentBin, args...).Output()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	var r probe.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	return r
}

func TestProbeAgainstCoturn(t *testing.T) {
	for _, tt := range []struct {
		nat                lab.NAT
		mapping, filtering probe.Behaviour
		natted             bool
	}{
		{lab.Masquerade, probe.EndpointIndependent, probe.AddressAndPortDependent, true},
		{lab.MasqueradeFullyRandom, probe.AddressAndPortDependent, probe.AddressAndPortDependent, true},
		// A router without NAT or filtering rules: nothing to classify.
		{lab.NoNAT, probe.EndpointIndependent, probe.EndpointIndependent, false},
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			coturn(t, l)
			r := runProbe(t, l)
			if r.Mapping != tt.mapping || r.Filtering != tt.filtering || r.TCPMapping != tt.mapping {
				t.Errorf("mapping %s, filtering %s, tcp mapping %s; want %s, %s, %s\n%+v",
					r.Mapping, r.Filtering, r.TCPMapping, tt.mapping, tt.filtering, tt.mapping, r.Tests)
			}
			if r.NAT == nil || *r.NAT != tt.natted {
				t.Errorf("NAT %v, want %v", r.NAT, tt.natted)
			}
			if tt.natted && (r.Hairpin == nil || *r.Hairpin) {
				t.Errorf("hairpin %v, want false (stock Linux NAT drops it)", r.Hairpin)
			}
			if tt.natted && (r.PortPreservation == nil || *r.PortPreservation != (tt.nat == lab.Masquerade)) {
				t.Errorf("port preservation %v under %s", r.PortPreservation, tt.nat)
			}
		})
	}
}

// TestProbeAgainstStund classifies against a classic RFC 3489 server,
// which names its other address in CHANGED-ADDRESS and serves no TCP.
func TestProbeAgainstStund(t *testing.T) {
	for _, tt := range []struct {
		nat     lab.NAT
		mapping probe.Behaviour
	}{
		{lab.Masquerade, probe.EndpointIndependent},
		{lab.MasqueradeFullyRandom, probe.AddressAndPortDependent},
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			stund(t, l)
			r := runProbe(t, l, "--no-tcp")
			if r.Mapping != tt.mapping || r.Filtering != probe.AddressAndPortDependent {
				t.Errorf("mapping %s, filtering %s; want %s, %s\n%+v", r.Mapping, r.Filtering, tt.mapping,
					probe.AddressAndPortDependent, r.Tests)
			}
			if r.ALG != nil && *r.ALG {
				t.Error("ALG rewriting reported, but the lab router runs no NAT helper")
			}
		})
	}
}

// TestDaemonProbes runs the daemon with an introducer: it probes from the
// router's LAN address (through its own NAT) and from the WAN address
// (upstream only), and the report's checks take the probes' verdicts.
func TestDaemonProbes(t *testing.T) {
	for _, tt := range []struct {
		nat     lab.NAT
		mapping report.Verdict
		layer   string
	}{
		{lab.Masquerade, report.Pass, ""},
		{lab.MasqueradeFullyRandom, report.Fail, "(this router)"},
	} {
		t.Run(string(tt.nat), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: tt.nat})
			coturn(t, l)
			a := startDaemon(t, l, "--introducer", net.JoinHostPort(l.ServerAddrs[0].String(), "3478"))
			var r report.Report
			waitFor(t, 10*time.Second, "both probes in the report", func() (bool, string) {
				r, _ = getReport(t, a)
				return r.Probe != nil && r.Probe.LAN != nil && r.Probe.WAN != nil, fmt.Sprintf("%+v", r.Probe)
			})
			if r.Probe.LAN.Report == nil || r.Probe.WAN.Report == nil {
				t.Fatalf("a probe failed: lan %+v, wan %+v", r.Probe.LAN, r.Probe.WAN)
			}
			want := map[string]report.Verdict{report.IDMappingUDP: tt.mapping, report.IDFiltering: report.Pass,
				report.IDUpstreamNAT: report.Pass, report.IDHairpin: report.Unknown}
			for id, v := range want {
				if c := r.Check(id); c.Verdict != v {
					t.Errorf("%s = %s (%s %q), want %s", id, c.Verdict, c.Summary, c.Evidence, v)
				}
			}
			if c := r.Check(report.IDMappingUDP); !strings.Contains(strings.Join(c.Evidence, " "), tt.layer) {
				t.Errorf("mapping.udp evidence %q does not name %q", c.Evidence, tt.layer)
			}
		})
	}
}
