package openwrt

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/natp2p/natp2p/agent"
)

const feed = "natp2p"

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFeedMakefile checks the conventions of OpenWrt's Go packages
// (net/frp, net/tailscale) that the SDK relies on.
func TestFeedMakefile(t *testing.T) {
	mk := read(t, filepath.Join(feed, "Makefile"))
	module := regexp.MustCompile(`(?m)^module (\S+)$`).FindStringSubmatch(read(t, "../go.mod"))[1]
	for _, line := range []string{
		"PKG_BUILD_DEPENDS:=golang/host",
		"PKG_BUILD_FLAGS:=no-mips16",
		"PKG_BUILD_PARALLEL:=1",
		"GO_PKG:=" + module,
		"GO_PKG_BUILD_PKG:=" + module + "/cmd/natp2p-agent " + module + "/cmd/natp2p-introducer",
		"include $(INCLUDE_DIR)/package.mk",
		// Outside the packages feed the include must name the feed's path.
		"include $(TOPDIR)/feeds/packages/lang/golang/golang-package.mk",
		"$(eval $(call BuildPackage,natp2p))",
		"$(eval $(call BuildPackage,natp2p-introducer))",
	} {
		if !strings.Contains(mk, "\n"+line+"\n") {
			t.Errorf("Makefile lacks the line %q", line)
		}
	}
	if !regexp.MustCompile(`(?m)^PKG_VERSION:=\d+\.\d+\.\d+$`).MatchString(mk) {
		t.Error("PKG_VERSION is not numeric major.minor.patch (apk rejects other versions)")
	}
	if !regexp.MustCompile(`(?m)^PKG_RELEASE:=\d+$`).MatchString(mk) {
		t.Error("PKG_RELEASE is not an integer (apk needs one)")
	}
	if !strings.Contains(mk, "GO_PKG_LDFLAGS_X:=main.version=") {
		t.Error("the version is not stamped into main.version")
	}
	for _, m := range regexp.MustCompile(`\./files/(\S+)`).FindAllStringSubmatch(mk, -1) {
		if _, err := os.Stat(filepath.Join(feed, "files", m[1])); err != nil {
			t.Errorf("Makefile installs %s: %v", m[1], err)
		}
	}
	for _, pkg := range []string{"natp2p", "natp2p-introducer"} {
		if !strings.Contains(mk, "define Package/"+pkg+"/conffiles\n/etc/config/"+pkg+"\nendef") {
			t.Errorf("/etc/config/%s is not a conffile", pkg)
		}
		if !strings.Contains(mk, "$(GO_PKG_BUILD_BIN_DIR)/"+strings.Replace(pkg, "natp2p", "natp2p-agent", 1)) &&
			!strings.Contains(mk, "$(GO_PKG_BUILD_BIN_DIR)/"+pkg) {
			t.Errorf("package %s installs no binary", pkg)
		}
	}
}

func TestShippedConfigIsValid(t *testing.T) {
	c, err := agent.LoadConfig(filepath.Join(feed, "files", "natp2p.config"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Enabled || c.Mode != "observe" || c.WANInterface != "wan" {
		t.Errorf("shipped config %+v: want enabled, observe, wan_interface wan", c)
	}
}

// stubs stands in for OpenWrt's rc.common, functions.sh and procd.sh:
// UCI options come from UCI_<option> variables, procd calls are printed.
const stubs = `
config_load() { :; }
config_get() { eval "$1=\"\${UCI_$3-$4}\""; }
config_get_bool() { config_get "$@"; }
procd_open_instance() { echo open; }
procd_set_param() { echo "set $*"; }
procd_append_param() { echo "append $*"; }
procd_close_instance() { echo close; }
logger() { echo "logger $*"; }
`

// fakeRoot makes an IPKG_INSTROOT with a fake agent whose check-config
// fails when FAKE_BAD_CONFIG is set, and OpenWrt's network.sh stubbed.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"usr/sbin/natp2p-agent":    "#!/bin/sh\n[ -z \"$FAKE_BAD_CONFIG\" ] || { echo 'natp2p-agent: config: line 3: bad' >&2; exit 2; }\necho \"agent $*\" >&2\n",
		"lib/functions/network.sh": "network_get_device() { eval \"$1=pppoe-$2\"; }\n",
		"lib/functions.sh":         stubs,
		"etc/init.d/natp2p":        "#!/bin/sh\necho \"init $* keep=$NATP2P_KEEP_RULES\"\n",
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func runSh(t *testing.T, root, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), append([]string{"IPKG_INSTROOT=" + root}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return string(out)
}

func TestInitStartService(t *testing.T) {
	root := fakeRoot(t)
	init, _ := filepath.Abs(filepath.Join(feed, "files", "natp2p.init"))
	start := stubs + ". " + init + "; start_service; echo rc=$?"
	agentCmd := "set command " + root + "/usr/sbin/natp2p-agent run --config " + root + "/etc/config/natp2p"
	tests := []struct {
		name      string
		env       []string
		want      []string
		forbidden []string
	}{
		{"wan interface resolved", []string{"UCI_wan_interface=wan"},
			[]string{"open", agentCmd, "append command --wan pppoe-wan", "set respawn", "set stderr 1", "close", "rc=0"}, nil},
		{"no wan interface", []string{"UCI_wan_interface="}, []string{agentCmd, "rc=0"}, []string{"append command"}},
		{"disabled", []string{"UCI_enabled=0"}, []string{"rc=0"}, []string{"open"}},
		{"bad config", []string{"FAKE_BAD_CONFIG=1"},
			[]string{"logger -t natp2p -p daemon.err natp2p-agent: config: line 3: bad", "rc=1"}, []string{"open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runSh(t, root, start, tt.env...)
			for _, w := range tt.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, f := range tt.forbidden {
				if strings.Contains(out, f) {
					t.Errorf("output has %q:\n%s", f, out)
				}
			}
		})
	}
}

func TestInitStopCleansUp(t *testing.T) {
	root := fakeRoot(t)
	init, _ := filepath.Abs(filepath.Join(feed, "files", "natp2p.init"))
	out := runSh(t, root, stubs+". "+init+"; service_stopped; echo rc=$?")
	want := "agent cleanup --config " + root + "/etc/config/natp2p\n"
	if !strings.Contains(out, want) || !strings.Contains(out, "rc=0") {
		t.Errorf("service_stopped output %q, want %q and rc=0", out, want)
	}
	// The WAN hotplug's restart keeps the rules.
	if out := runSh(t, root, stubs+". "+init+"; service_stopped; echo rc=$?", "NATP2P_KEEP_RULES=1"); strings.Contains(out, "cleanup") {
		t.Errorf("service_stopped with NATP2P_KEEP_RULES ran cleanup: %q", out)
	}
}

func TestHotplugRestartsOnWANUp(t *testing.T) {
	root := fakeRoot(t)
	hook, _ := filepath.Abs(filepath.Join(feed, "files", "natp2p.hotplug"))
	for _, tt := range []struct {
		action, iface string
		restart       bool
	}{{"ifup", "wan", true}, {"ifupdate", "wan", true}, {"ifdown", "wan", false}, {"ifup", "lan", false}} {
		out := runSh(t, root, "sh "+hook, "ACTION="+tt.action, "INTERFACE="+tt.iface, "UCI_wan_interface=wan")
		if got := strings.Contains(out, "init restart keep=1"); got != tt.restart {
			t.Errorf("%s %s: restart = %v, want %v (output %q)", tt.action, tt.iface, got, tt.restart, out)
		}
	}
}

func TestShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("NATP2P_REQUIRE_SHELLCHECK") == "1" {
			t.Fatal("shellcheck is required (NATP2P_REQUIRE_SHELLCHECK=1) but not installed")
		}
		t.Skip("shellcheck not installed")
	}
	files := []string{filepath.Join(feed, "files", "natp2p.init"), filepath.Join(feed, "files", "natp2p.hotplug"),
		filepath.Join(feed, "files", "natp2p-introducer.init")}
	// OpenWrt runs these under busybox ash, which has `local`: dash is the
	// closest dialect shellcheck knows.
	out, err := exec.Command("shellcheck", append([]string{"-s", "dash"}, files...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

func TestIntroducerInit(t *testing.T) {
	root := fakeRoot(t)
	init, _ := filepath.Abs(filepath.Join(feed, "files", "natp2p-introducer.init"))
	start := stubs + ". " + init + "; start_service; echo rc=$?"
	out := runSh(t, root, start, "UCI_enabled=1", "UCI_primary=203.0.113.10", "UCI_alternate=203.0.113.11", "UCI_tcp=0")
	want := "set command " + root + "/usr/sbin/natp2p-introducer --primary 203.0.113.10 --port 3478 --alt-port 3479 --rate 50 --burst 100 --log-level info --log-target auto\n"
	for _, w := range []string{want, "append command --alternate 203.0.113.11\n", "append command --tcp=false\n", "rc=0\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if out := runSh(t, root, start, "UCI_enabled=1", "UCI_primary="); !strings.Contains(out, "option primary is empty") || !strings.Contains(out, "rc=1") {
		t.Errorf("an empty primary started the introducer:\n%s", out)
	}
	if out := runSh(t, root, start); strings.Contains(out, "open") {
		t.Errorf("disabled by default, yet started:\n%s", out)
	}
}
