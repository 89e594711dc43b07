package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadConfig(t *testing.T) {
	got, err := LoadConfig("testdata/config/natp2p")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSettings()
	want.WAN, want.LAN = "eth0.2", []string{"br-lan", "br-guest"}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := map[string]string{
		"config natp2p 'main'\n\toption mode 'fix'\n":             "line 2: option mode: unknown mode \"fix\" (use observe or enforce)",
		"config natp2p 'main'\n\toption mdoe 'observe'\n":         "line 2: unknown option \"mdoe\" (known: backend, enabled, enforce_hairpin,",
		"config natp2p 'main'\n\toption backend 'pf'\n":           "line 2: option backend: unknown backend \"pf\"",
		"config natp2p 'main'\n\toption enforce_hairpin 'x'\n":    "line 2: option enforce_hairpin: \"x\" is not a boolean",
		"config natp2p 'main'\n\toption udp_timeout '60'\n":       "line 2: option udp_timeout: \"60\": want seconds from 120",
		"config natp2p 'main'\n\toption pin_grace '2h'\n":         "line 2: option pin_grace: \"2h\": want 1s to 1h",
		"config natp2p 'main'\n\toption pin_quota '0'\n":          "line 2: option pin_quota: \"0\": want 1 to 65535",
		"config natp2p 'main'\n\toption enabled 'maybe'\n":        "line 2: option enabled: \"maybe\" is not a boolean",
		"config natp2p 'main'\n\toption event_buffer '10'\n":      "line 2: option event_buffer: \"10\": want bytes",
		"config natp2p 'main'\n\toption wan 'eth0/1'\n":           "line 2: option wan: \"eth0/1\" is not an interface name",
		"config natp2p 'main'\n\toption wan_interface 'wan-6'\n":  "line 2: option wan_interface: \"wan-6\" is not an OpenWrt interface name",
		"config natp2p 'main'\n\toption probe_interval '10s'\n":   "line 2: option probe_interval: \"10s\": probe at most once a minute",
		"config natp2p 'main'\n\toption introducer 'a b'\n":       "line 2: option introducer: \"a b\" is not host[:port]",
		"config natp2p 'main'\n\toption probe_from 'lan'\n":       "line 2: option probe_from: \"lan\" is not an IP address",
		"config natp2p 'main'\n\toption socket 'rel.sock'\n":      "line 2: option socket: \"rel.sock\" is not an absolute path",
		"config natp2p 'main'\n\toption log_level 'loud'\n":       "line 2: option log_level: unknown log level",
		"config natp2p 'a'\nconfig natp2p 'b'\n":                  "line 2: a second natp2p section (the first is at line 1)",
		"config firewall 'x'\n":                                   "line 1: unknown section type \"firewall\"",
		"# empty\n":                                               "no `config natp2p` section",
		"config natp2p 'main'\n\toption mode 'observe\n":          "line 2: unterminated ' quote",
		"config natp2p 'main'\n\toption probe_netns_addr '::1'\n": "line 2: option probe_netns_addr: \"::1\" is not an IPv4 address",
		"config natp2p 'main'\n\toption probe_netns 'x'\n":        "line 2: option probe_netns: \"x\" is not a boolean",
	}
	dir := t.TempDir()
	for in, want := range tests {
		path := filepath.Join(dir, "natp2p")
		if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("LoadConfig(%q) = %v, want one line containing %q", in, err, want)
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadConfig(missing file): no error")
	}
}

func TestLoadEnforceConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "natp2p")
	os.WriteFile(path, []byte("config natp2p 'main'\n\toption mode 'enforce'\n\toption backend 'iptables'\n"+
		"\toption enforce_hairpin '0'\n\toption udp_timeout '180'\n\toption pin_grace '45'\n\toption pin_quota '-1'\n\toption preserve_ports '1'\n"), 0o600)
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSettings()
	want.Mode, want.Backend, want.EnforceHairpin = "enforce", "iptables", false
	want.UDPTimeout, want.PinGrace, want.PinQuota, want.PreservePorts = 180, 45*time.Second, -1, true
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
}
