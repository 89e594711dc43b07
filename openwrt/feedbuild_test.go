package openwrt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The parts of OpenWrt's make machinery that decide the go command line,
// as OpenWrt 24.10 has them: package.mk expands Build/Compile into the
// compile rule inside BuildPackage (Build/CoreTargets), that is while it
// reads the package Makefile, long before Build/Prepare fills
// PKG_BUILD_DIR; golang-package.mk hands GoPackage/Build/Compile's
// argument to golang-build.sh, which passes it on to go install.
var mockOpenWrt = map[string]string{
	"rules.mk": "INCLUDE_DIR:=$(TOPDIR)/include\n",
	"include/package.mk": `PKG_BUILD_DIR ?= $(TOPDIR)/build_dir/$(PKG_NAME)-$(PKG_VERSION)
define Build/CoreTargets
compile:
	$(Build/Compile)
endef
define BuildPackage
  $(Build/CoreTargets)
  define Build/CoreTargets
  endef
endef
`,
	"feeds/packages/lang/golang/golang-package.mk": `GO_ARCH_DEPENDS:=@(x86_64)
GO_PKG_DEFAULT_GCFLAGS=-spectre all
define GoPackage/Build/Compile
	printf '[%s]\n' golang-build.sh build $(1)
endef
Build/Compile=$(call GoPackage/Build/Compile)
`,
}

// coldPackages: the lines of cross/cold-packages that name a package.
func coldPackages(t *testing.T) []string {
	var pkgs []string
	for _, line := range strings.Split(read(t, "../cross/cold-packages"), "\n") {
		if p := strings.TrimSpace(strings.SplitN(line, "#", 2)[0]); p != "" {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// TestFeedPassesColdGcflags: a fresh build (nothing in PKG_BUILD_DIR yet)
// gets one -gcflags PKG=-l per cold package, with the feed's default
// gcflags kept, as separate arguments of golang-build.sh.
func TestFeedPassesColdGcflags(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	top := t.TempDir()
	for name, text := range mockOpenWrt {
		path := filepath.Join(top, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("make", "-s", "-C", feed, "TOPDIR="+top, "compile")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make compile: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(top, "build_dir")); err == nil {
		t.Fatal("the mock build made build_dir: the test no longer shows a fresh build")
	}
	args := string(out)
	if !strings.HasPrefix(args, "[golang-build.sh]\n[build]\n") {
		t.Fatalf("unexpected compile output:\n%s", args)
	}
	pkgs := coldPackages(t)
	if len(pkgs) == 0 {
		t.Fatal("cross/cold-packages names no package")
	}
	for _, p := range pkgs {
		if want := "[-gcflags]\n[" + p + "=-l -spectre all]\n"; !strings.Contains(args, want) {
			t.Errorf("go install is not given -gcflags %q:\n%s", p+"=-l -spectre all", args)
		}
	}
	if n := strings.Count(args, "[-gcflags]\n"); n != len(pkgs) {
		t.Errorf("%d -gcflags for %d cold packages", n, len(pkgs))
	}
}
