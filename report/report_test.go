package report

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
)

var update = flag.Bool("update", false, "rewrite golden files")

var ap = netip.MustParseAddrPort

func nat(p conntrackmap.Proto, private, remote, public string) conntrackmap.Event {
	return conntrackmap.Event{Type: conntrackmap.EventNew, Flow: conntrackmap.Flow{Proto: p,
		Orig:  conntrackmap.Tuple{Src: ap(private), Dst: ap(remote)},
		Reply: conntrackmap.Tuple{Src: ap(remote), Dst: ap(public)}}}
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func stockSysctls() map[string]int {
	sys := map[string]int{SysctlUDPTimeout: 30, SysctlUDPTimeoutStream: 120, SysctlTCPEstablished: 432000}
	for i, name := range TransitorySysctls {
		sys[name] = []int{120, 60, 120, 60, 30, 120}[i]
	}
	return sys
}

func input(events ...conntrackmap.Event) Input {
	tab := conntrackmap.New(conntrackmap.Config{Now: func() time.Time { return t0 }})
	tab.ApplyAll(events)
	return Input{Now: t0.Add(90 * time.Second), Host: "router", Source: SourceDaemon, Table: tab.Summary(),
		Sysctls: stockSysctls(), NATHelpers: []string{},
		WAN: []Interface{{Name: "wan0", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.1")}}},
		LAN: []Interface{{Name: "br-lan"}}}
}

func verdicts(r Report) map[string]Verdict {
	m := map[string]Verdict{}
	for _, c := range r.Checks {
		m[c.ID] = c.Verdict
	}
	return m
}

func TestBuildVerdicts(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want map[string]Verdict
	}{
		{"no traffic", input(), map[string]Verdict{IDMappingUDP: Unknown, IDMappingTCP: Unknown,
			IDPortOverloading: Unknown, IDPoolPaired: Unknown, IDPortPreservation: Unknown,
			IDTimeoutUDP: Fail, IDTimeoutTCP: Pass, IDTimeoutTCPTrans: Fail, IDUpstreamNAT: Pass, IDALG: Pass, IDHairpin: Unknown}},
		{"one destination only", input(nat(conntrackmap.UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000")),
			map[string]Verdict{IDMappingUDP: Unknown, IDPortOverloading: Pass, IDPoolPaired: Pass, IDPortPreservation: Pass}},
		{"endpoint-independent", input(
			nat(conntrackmap.UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
			nat(conntrackmap.UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:4000")),
			map[string]Verdict{IDMappingUDP: Pass, IDMappingTCP: Unknown, IDPortPreservation: Pass}},
		{"fully random", input(
			nat(conntrackmap.UDP, "198.51.100.10:4000", "203.0.113.10:3478", "203.0.113.1:4000"),
			nat(conntrackmap.UDP, "198.51.100.10:4000", "203.0.113.11:3478", "203.0.113.1:29352")),
			map[string]Verdict{IDMappingUDP: Fail, IDPortPreservation: Fail, IDPortOverloading: Pass}},
		{"overloading", input(
			nat(conntrackmap.TCP, "198.51.100.10:5000", "203.0.113.10:80", "203.0.113.1:5000"),
			nat(conntrackmap.TCP, "198.51.100.11:5000", "203.0.113.11:80", "203.0.113.1:5000")),
			map[string]Verdict{IDPortOverloading: Fail, IDMappingTCP: Unknown}},
		{"pool", input(
			nat(conntrackmap.UDP, "198.51.100.10:5000", "203.0.113.10:3478", "203.0.113.1:5000"),
			nat(conntrackmap.UDP, "198.51.100.10:5001", "203.0.113.11:3478", "203.0.113.2:5001")),
			map[string]Verdict{IDPoolPaired: Fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verdicts(Build(tt.in))
			for id, want := range tt.want {
				if got[id] != want {
					t.Errorf("%s = %s, want %s", id, got[id], want)
				}
			}
		})
	}
}

func TestTimeoutAndEnvironmentChecks(t *testing.T) {
	in := input()
	in.Sysctls[SysctlUDPTimeout], in.Sysctls[SysctlUDPTimeoutStream] = 180, 180
	in.WAN = []Interface{{Name: "wan", Addrs: []netip.Addr{netip.MustParseAddr("100.64.3.4")}}}
	in.NATHelpers = []string{"nf_nat_sip"}
	got := verdicts(Build(in))
	want := map[string]Verdict{IDTimeoutUDP: Warn, IDUpstreamNAT: Warn, IDALG: Warn}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("%s = %s, want %s", id, got[id], v)
		}
	}
	in.Sysctls, in.NATHelpers, in.WAN = map[string]int{}, nil, nil
	for _, id := range []string{IDTimeoutUDP, IDTimeoutTCP, IDTimeoutTCPTrans, IDALG, IDUpstreamNAT} {
		if v := verdicts(Build(in))[id]; v != Unknown {
			t.Errorf("without inputs %s = %s, want UNKNOWN", id, v)
		}
	}
}

// TestText checks the one-screen report against a golden file.
func TestText(t *testing.T) {
	r := Build(input(
		nat(conntrackmap.UDP, "198.51.100.10:1234", "203.0.113.10:3478", "203.0.113.1:29352"),
		nat(conntrackmap.UDP, "198.51.100.10:1234", "203.0.113.11:3478", "203.0.113.1:1234"),
		nat(conntrackmap.UDP, "198.51.100.11:1234", "203.0.113.10:3479", "203.0.113.1:1234")))
	var buf bytes.Buffer
	if err := WriteText(&buf, &r); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", buf.Bytes())
	if !r.Failed() {
		t.Error("Failed() = false for a report with FAIL checks")
	}
}

func TestJSONValidates(t *testing.T) {
	r := Build(input(nat(conntrackmap.UDP, "198.51.100.10:1234", "203.0.113.10:3478", "203.0.113.1:1234")))
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &r); err != nil {
		t.Fatal(err)
	}
	if err := Validate(buf.Bytes()); err != nil {
		t.Fatalf("Validate(our own output): %v\n%s", err, buf.Bytes())
	}
	golden(t, "report.json", buf.Bytes())
}

func TestValidateRejects(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"other schema":    `"natp2p.report/v1"`,
		"unknown verdict": `"verdict": "PASS"`,
		"missing field":   `"host": "router",`,
		"unknown field":   `"source": "daemon",`,
	}
	with := map[string]string{
		"other schema":    `"natp2p.report/v2"`,
		"unknown verdict": `"verdict": "pass"`,
		"missing field":   ``,
		"unknown field":   `"source": "daemon", "extra": 1,`,
	}
	for name, old := range bad {
		doc := bytes.Replace(good, []byte(old), []byte(with[name]), 1)
		if bytes.Equal(doc, good) {
			t.Fatalf("%s: fixture has no %q", name, old)
		}
		if err := Validate(doc); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from golden file:\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}
