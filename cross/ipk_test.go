package cross

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// epoch is the SOURCE_DATE_EPOCH the tests build packages with.
const epoch = 1700000000

// member is one entry of a tar.
type member struct {
	name string
	mode int64
	body []byte
}

// untar reads a gzip'd tar, checking that every entry is owned by 0:0 and
// dated epoch, as scripts/ipkg-build makes them.
func untar(t *testing.T, data []byte) []member {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	var members []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return members
		}
		if err != nil {
			t.Fatalf("not a tar: %v", err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(epoch, 0)) {
			t.Errorf("%s: owner %d:%d, date %v; want 0:0, %v", h.Name, h.Uid, h.Gid, h.ModTime, time.Unix(epoch, 0))
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, member{h.Name, h.Mode & 0o7777, b})
	}
}

// body returns the content of the member called name.
func body(t *testing.T, members []member, name string) []byte {
	t.Helper()
	for _, m := range members {
		if m.name == name {
			return m.body
		}
	}
	t.Fatalf("no member %s", name)
	return nil
}

// goBuild builds a stripped static mipsle binary of the command cmd.
func goBuild(t *testing.T, dir, cmd string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(cmd))
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../cmd/"+cmd)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=mipsle", "GOMIPS=softfloat")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", cmd, err, out)
	}
	return bin
}

// buildIPKs builds the mipsle binaries and packages them for mipsel_24kc:
// package name -> .ipk bytes.
func buildIPKs(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("sh", "ipk.sh", "mipsel_24kc")
	cmd.Env = append(os.Environ(), "NATP2P_DIST="+dir, "SOURCE_DATE_EPOCH="+strconv.Itoa(epoch),
		"NATP2P_BIN_mipsle="+goBuild(t, dir, "natp2p-agent"),
		"NATP2P_INTRODUCER_BIN_mipsle="+goBuild(t, dir, "natp2p-introducer"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ipk.sh: %v\n%s", err, out)
	}
	ipks := map[string][]byte{}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.ipk"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		ipks[filepath.Base(m)] = b
	}
	return ipks
}

// makefile reads the feed's Makefile.
func makefile(t *testing.T) string {
	t.Helper()
	mk, err := os.ReadFile("../openwrt/natp2p/Makefile")
	if err != nil {
		t.Fatal(err)
	}
	return string(mk)
}

// version is the package version OpenWrt 24.10's include/package-defaults.mk
// makes: $(PKG_VERSION)-r$(PKG_RELEASE).
func version(t *testing.T) string {
	t.Helper()
	mk := makefile(t)
	v := regexp.MustCompile(`(?m)^PKG_VERSION:=(\S+)$`).FindStringSubmatch(mk)
	r := regexp.MustCompile(`(?m)^PKG_RELEASE:=(\S+)$`).FindStringSubmatch(mk)
	if v == nil || r == nil {
		t.Fatal("the Makefile lacks PKG_VERSION or PKG_RELEASE")
	}
	return v[1] + "-r" + r[1]
}

// description is the Makefile's Package/NAME/description as
// package-pack.mk writes it: every line's leading blanks become one space.
func description(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)define Package/` + name + `/description\n(.*?)\nendef`).FindStringSubmatch(makefile(t))
	if m == nil {
		t.Fatalf("the Makefile has no Package/%s/description", name)
	}
	lines := strings.Split(m[1], "\n")
	for i, l := range lines {
		lines[i] = " " + strings.TrimLeft(l, " \t")
	}
	return strings.Join(lines, "\n") + "\n"
}

// pkgWant is what OpenWrt 24.10's build makes of one package of the feed.
type pkgWant struct {
	name    string
	depends string
	// data: path -> mode, and the feed file it must equal ("" for binaries).
	data      map[string]fileWant
	conffiles string
	machine   string // the ELF binary
}

type fileWant struct {
	mode int64
	src  string
}

var feedPackages = []pkgWant{
	{
		name: "natp2p", depends: "libc, kmod-nf-conntrack-netlink", machine: "./usr/sbin/natp2p-agent",
		conffiles: "/etc/config/natp2p\n",
		data: map[string]fileWant{
			"./usr/sbin/natp2p-agent":         {0o755, ""},            // INSTALL_BIN
			"./etc/init.d/natp2p":             {0o755, "natp2p.init"}, // INSTALL_BIN
			"./etc/config/natp2p":             {0o600, "natp2p.config"},
			"./etc/hotplug.d/iface/90-natp2p": {0o644, "natp2p.hotplug"}, // INSTALL_DATA
		},
	},
	{
		name: "natp2p-introducer", depends: "libc", machine: "./usr/sbin/natp2p-introducer",
		conffiles: "/etc/config/natp2p-introducer\n",
		data: map[string]fileWant{
			"./usr/sbin/natp2p-introducer":   {0o755, ""},
			"./etc/init.d/natp2p-introducer": {0o755, "natp2p-introducer.init"},
			"./etc/config/natp2p-introducer": {0o600, "natp2p-introducer.config"}, // INSTALL_CONF
		},
	},
}

// TestIPK checks that make ipk makes, for each package the feed builds,
// what OpenWrt 24.10's build makes: the file name and version, the outer
// tar of scripts/ipkg-build, the files with INSTALL_* modes, the control
// fields in package-pack.mk's order, conffiles and the default scripts.
func TestIPK(t *testing.T) {
	ipks := buildIPKs(t)
	if len(ipks) != len(feedPackages) {
		t.Errorf("ipk.sh made %d packages, want %d", len(ipks), len(feedPackages))
	}
	for _, w := range feedPackages {
		t.Run(w.name, func(t *testing.T) {
			file := w.name + "_" + version(t) + "_mipsel_24kc.ipk"
			ipk, ok := ipks[file]
			if !ok {
				t.Fatalf("no %s", file)
			}
			outer := untar(t, ipk)
			checkOuter(t, outer)
			dataGz := body(t, outer, "./data.tar.gz")
			checkData(t, w, untar(t, dataGz))
			checkControl(t, w, untar(t, body(t, outer, "./control.tar.gz")), dataGz)
		})
	}
}

func checkOuter(t *testing.T, outer []member) {
	t.Helper()
	var got []string
	for _, m := range outer {
		got = append(got, m.name)
		if m.mode != 0o644 {
			t.Errorf("%s: mode %o, want 644", m.name, m.mode)
		}
	}
	if diff := cmp.Diff([]string{"./debian-binary", "./data.tar.gz", "./control.tar.gz"}, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if b := body(t, outer, "./debian-binary"); string(b) != "2.0\n" {
		t.Errorf("debian-binary = %q", b)
	}
}

// modes lists a tar's members as name -> mode.
func modes(members []member) map[string]int64 {
	got := map[string]int64{}
	for _, m := range members {
		got[m.name] = m.mode
	}
	return got
}

func checkData(t *testing.T, w pkgWant, data []member) {
	t.Helper()
	want := map[string]int64{}
	for name, f := range w.data {
		want[name] = f.mode
		for i := strings.LastIndex(name, "/"); i > 1; i = strings.LastIndex(name[:i], "/") {
			want[name[:i+1]] = 0o755 // INSTALL_DIR
		}
		if f.src != "" {
			src, _ := os.ReadFile(filepath.Join("../openwrt/natp2p/files", f.src))
			if !bytes.Equal(src, body(t, data, name)) {
				t.Errorf("%s differs from %s", name, f.src)
			}
		}
	}
	want["./"] = 0o755
	if diff := cmp.Diff(want, modes(data)); diff != "" {
		t.Errorf("data files and modes (-want +got):\n%s", diff)
	}
	checkELF(t, body(t, data, w.machine))
}

func checkELF(t *testing.T, bin []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	if f.Machine != elf.EM_MIPS || f.Class != elf.ELFCLASS32 || f.ByteOrder.String() != "LittleEndian" {
		t.Errorf("the binary is %v %v %v, want 32-bit little-endian MIPS", f.Machine, f.Class, f.ByteOrder)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary is not stripped")
	}
}

// wantControl is package-pack.mk's Package/<name>/CONTROL for the feed's
// Makefile, with the Installed-Size ipkg-build puts in (the size of the
// uncompressed data tar) and the description.
func wantControl(t *testing.T, w pkgWant, installedSize int64) string {
	t.Helper()
	return "Package: " + w.name + "\n" +
		"Version: " + version(t) + "\n" +
		"Depends: " + w.depends + "\n" +
		"Source: feeds/natp2p/natp2p\n" +
		"SourceName: natp2p\n" +
		"License: MIT\n" +
		"LicenseFiles: LICENSE\n" +
		"Section: net\n" +
		"SourceDateEpoch: " + strconv.Itoa(epoch) + "\n" +
		"URL: https://github.com/natp2p/natp2p\n" +
		"Maintainer: The natp2p authors\n" +
		"Architecture: mipsel_24kc\n" +
		"Installed-Size: " + strconv.FormatInt(installedSize, 10) + "\n" +
		"Description: " + description(t, w.name)
}

// defaultScripts are package-pack.mk's postinst and prerm (prerm without
// the IPKG_NO_SCRIPT line).
var defaultScripts = map[string]string{
	"./postinst": "#!/bin/sh\n[ \"${IPKG_NO_SCRIPT}\" = \"1\" ] && exit 0\n" +
		"[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n. ${IPKG_INSTROOT}/lib/functions.sh\ndefault_postinst $0 $@\n",
	"./prerm": "#!/bin/sh\n" +
		"[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n. ${IPKG_INSTROOT}/lib/functions.sh\ndefault_prerm $0 $@\n",
}

func checkControl(t *testing.T, w pkgWant, control []member, dataGz []byte) {
	t.Helper()
	wantModes := map[string]int64{"./": 0o755, "./control": 0o644, "./conffiles": 0o644, "./postinst": 0o755, "./prerm": 0o755}
	if diff := cmp.Diff(wantModes, modes(control)); diff != "" {
		t.Errorf("control files and modes (-want +got):\n%s", diff)
	}
	zr, err := gzip.NewReader(bytes.NewReader(dataGz))
	if err != nil {
		t.Fatal(err)
	}
	size, _ := io.Copy(io.Discard, zr)
	if diff := cmp.Diff(wantControl(t, w, size), string(body(t, control, "./control"))); diff != "" {
		t.Errorf("control (-want +got):\n%s", diff)
	}
	if got := string(body(t, control, "./conffiles")); got != w.conffiles {
		t.Errorf("conffiles = %q, want %q", got, w.conffiles)
	}
	for name, want := range defaultScripts {
		if diff := cmp.Diff(want, string(body(t, control, name))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}
