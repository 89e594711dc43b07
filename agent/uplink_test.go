package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/natp2p/natp2p/report"
)

func TestUplinkReason(t *testing.T) {
	iface := func(name string, addrs ...string) report.Interface {
		i := report.Interface{Name: name}
		for _, a := range addrs {
			i.Addrs = append(i.Addrs, netip.MustParseAddr(a))
		}
		return i
	}
	defaults, fw4 := []string{"wwan0"}, []string{"eth1", "ppp*"}
	for _, tt := range []struct {
		i    report.Interface
		want string // "" for a LAN; else a word of the reason
	}{
		{iface("br-lan", "192.168.1.1", "fd00::1"), ""},
		{iface("br-guest", "10.0.0.1"), ""},
		{iface("br-lab", "198.51.100.1"), ""}, // documentation: no uplink
		{iface("eth2", "100.64.1.2"), "shared"},
		{iface("eth3", "192.168.1.1", "8.8.8.8"), "public"},
		{iface("wwan0", "10.11.12.13"), "default route"},
		{iface("eth1", "192.168.0.2"), "fw4"},
		{iface("ppp0", "10.0.0.2"), "fw4"},
		{iface("pp", "10.0.0.3"), ""},
	} {
		got := uplinkReason(tt.i, defaults, fw4)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("uplinkReason(%v) = %q, want %q", tt.i, got, tt.want)
		}
	}
}

func TestRoutable(t *testing.T) {
	for a, want := range map[string]bool{
		"8.8.8.8": true, "192.168.1.1": false, "10.1.2.3": false, "172.16.0.1": false, "100.64.0.1": false,
		"203.0.113.1": false, "192.0.2.1": false, "169.254.1.1": false, "127.0.0.1": false, "240.0.0.1": false,
		"2001:4860::8888": false, // IPv4 only
	} {
		if got := routable(netip.MustParseAddr(a)); got != want {
			t.Errorf("routable(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestDefaultRouteInterfaces(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "net"), 0o755)
	os.WriteFile(filepath.Join(proc, "net", "route"), []byte(
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"+
			"eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"+
			"br-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"+
			"wwan0\t00000000\t01020A0A\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"+
			"eth0\t00000000\t0201A8C0\t0003\t0\t0\t50\t00000000\t0\t0\t0\n"), 0o644)
	s := System{Proc: proc}
	got, err := s.defaultRouteInterfaces()
	if err != nil || !cmp.Equal(got, []string{"eth0", "wwan0"}) {
		t.Errorf("defaultRouteInterfaces() = %v, %v; want [eth0 wwan0]", got, err)
	}
	if wan, err := s.DefaultRouteInterface(); wan != "eth0" || err != nil {
		t.Errorf("DefaultRouteInterface() = %q, %v; want eth0", wan, err)
	}
	if _, err := (System{Proc: t.TempDir()}).DefaultRouteInterface(); err == nil {
		t.Error("DefaultRouteInterface() without a routing table: no error")
	}
}

func TestFW4WANDevices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fw4.state")
	os.WriteFile(path, []byte(`{"zones":[`+
		`{"name":"lan","masq":false,"match_devices":["br-lan"]},`+
		`{"name":"wan","masq":true,"match_devices":["eth1","pppoe-wan"]},`+
		`{"name":"wan2","masq":true,"match_devices":["wwan+"]},`+
		`{"name":"guest","match_devices":["br-guest"]}],"networks":{}}`), 0o600)
	if got, want := (System{FW4State: path}).fw4WANDevices(), []string{"eth1", "pppoe-wan", "wwan*"}; !cmp.Equal(got, want) {
		t.Errorf("fw4WANDevices() = %v, want %v", got, want)
	}
	if got := (System{FW4State: filepath.Join(t.TempDir(), "none")}).fw4WANDevices(); got != nil {
		t.Errorf("fw4WANDevices() without fw4 = %v, want none", got)
	}
}

func TestSettingsCheck(t *testing.T) {
	for _, tt := range []struct {
		wan  string
		lan  []string
		want string
	}{
		{"eth0", []string{"br-lan"}, ""},
		{"", []string{"br-lan"}, ""},
		{"eth0", nil, ""},
		{"eth0", []string{"br-lan", "eth0"}, "the WAN eth0 is among the LAN interfaces"},
	} {
		s := Settings{WAN: tt.wan, LAN: tt.lan}
		err := s.Check()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Check() of WAN %q, LAN %v = %v, want %q", tt.wan, tt.lan, err, tt.want)
		}
	}
}

func TestBridgeNetfilter(t *testing.T) {
	sysctl := func(v string) System {
		proc := t.TempDir()
		if v != "" {
			os.MkdirAll(filepath.Join(proc, "sys", "net", "bridge"), 0o755)
			os.WriteFile(filepath.Join(proc, "sys", "net", "bridge", "bridge-nf-call-iptables"), []byte(v), 0o644)
		}
		return System{Proc: proc}
	}
	for _, tt := range []struct {
		sys         System
		on, known   bool
		description string
	}{
		{sysctl("1\n"), true, true, "on"},
		{sysctl("0\n"), false, true, "off"},
		{sysctl(""), false, true, "br_netfilter not loaded"},
	} {
		if on, known := tt.sys.BridgeNetfilter(); on != tt.on || known != tt.known {
			t.Errorf("%s: BridgeNetfilter() = %v, %v; want %v, %v", tt.description, on, known, tt.on, tt.known)
		}
	}
}
