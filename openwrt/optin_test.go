package openwrt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOptInTargetsSkip checks that make test-openwrt and make sdk, run
// without their input or with a folder that is not an OpenWrt root or SDK,
// say in one line that they did not run and why, and exit 0 (they are not
// part of make test and must not fail there).
func TestOptInTargetsSkip(t *testing.T) {
	notOpenWrt := t.TempDir()
	apkRoot := t.TempDir() // an OpenWrt 25.12 root: apk, no opkg
	for _, f := range []string{"etc/openwrt_release", "sbin/procd", "usr/bin/apk"} {
		p := filepath.Join(apkRoot, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		script, dir, why string
	}{
		{"test-openwrt.sh", "", "no OPENWRT_ROOTFS"},
		{"test-openwrt.sh", notOpenWrt, "is not an OpenWrt root"},
		{"test-openwrt.sh", filepath.Join(notOpenWrt, "none"), "is not a directory"},
		{"test-openwrt.sh", apkRoot, "has no bin/opkg"},
		{"sdk.sh", "", "no OPENWRT_SDK"},
		{"sdk.sh", notOpenWrt, "is not an OpenWrt SDK or buildroot"},
	}
	for _, tt := range tests {
		t.Run(tt.script+" "+tt.why, func(t *testing.T) {
			cmd := exec.Command("sh", filepath.Join("..", "scripts", tt.script), tt.dir)
			cmd.Env = append(os.Environ(), "OPENWRT_ROOTFS=", "OPENWRT_SDK=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			name := strings.TrimSuffix(tt.script, ".sh")
			if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 ||
				!strings.HasPrefix(lines[0], name+": did not run: ") || !strings.Contains(lines[0], tt.why) {
				t.Errorf("output %q, want one line %q... with %q", out, name+": did not run: ", tt.why)
			}
		})
	}
}
