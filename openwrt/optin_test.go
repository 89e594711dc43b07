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

// TestSDKFeedIsThisTree: make sdk points the SDK's natp2p feed at this
// tree even when feeds.conf names another one (say an older checkout),
// which OpenWrt would otherwise build, and keeps the other feeds. The SDK
// is a stub whose scripts/feeds does nothing and whose make fails, so the
// script stops at make defconfig, after rewriting feeds.conf.
func TestSDKFeedIsThisTree(t *testing.T) {
	sdk := t.TempDir()
	files := map[string]string{
		"rules.mk":           "",
		"include/package.mk": "",
		"feeds/packages/lang/golang/golang-package.mk":       "",
		"staging_dir/toolchain-x86_64_gcc-13.3.0_musl/.keep": "",
		"scripts/feeds": "#!/bin/sh\nexit 0\n",
		"Makefile":      "%:\n\t@false\n",
		"feeds.conf": "src-git packages https://example.org/packages.git\n" +
			"src-link natp2p /elsewhere/natp2p/openwrt\n",
	}
	for name, text := range files {
		p := filepath.Join(sdk, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("sh", filepath.Join("..", "scripts", "sdk.sh"), sdk).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "sdk: make defconfig") {
		t.Fatalf("sdk.sh did not stop at the stub's make defconfig (%v):\n%s", err, out)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	want := "src-git packages https://example.org/packages.git\n" +
		"src-link natp2p " + repo + "/openwrt\n"
	if got := read(t, filepath.Join(sdk, "feeds.conf")); got != want {
		t.Errorf("feeds.conf:\n%s\nwant:\n%s", got, want)
	}
}
