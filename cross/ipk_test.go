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
)

// untar reads a gzip'd tar into name -> header and content.
func untar(t *testing.T, data []byte) (map[string]*tar.Header, map[string][]byte, []string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	hdrs, bodies, order := map[string]*tar.Header{}, map[string][]byte{}, []string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, bodies, order
		}
		if err != nil {
			t.Fatalf("not a tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], bodies[h.Name] = h, b
		order = append(order, h.Name)
	}
}

// buildIPK builds a mipsle agent and packages it for mipsel_24kc.
func buildIPK(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "natp2p-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../cmd/natp2p-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=mipsle", "GOMIPS=softfloat")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command("sh", "ipk.sh", "mipsel_24kc")
	cmd.Env = append(os.Environ(), "NATP2P_BIN_mipsle="+bin, "NATP2P_DIST="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ipk.sh: %v\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "natp2p_*_mipsel_24kc.ipk"))
	if len(matches) != 1 {
		t.Fatalf("ipk.sh made %v", matches)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIPK(t *testing.T) {
	outer, parts, order := untar(t, buildIPK(t))
	if got := strings.Join(order, " "); got != "./debian-binary ./data.tar.gz ./control.tar.gz" {
		t.Errorf("members %q, want ./debian-binary ./data.tar.gz ./control.tar.gz", got)
	}
	if string(parts["./debian-binary"]) != "2.0\n" {
		t.Errorf("debian-binary = %q", parts["./debian-binary"])
	}
	for name, h := range outer {
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", name, h.Uid, h.Gid)
		}
	}
	dataHdrs, data, _ := untar(t, parts["./data.tar.gz"])
	checkData(t, dataHdrs, data)
	_, control, _ := untar(t, parts["./control.tar.gz"])
	checkControl(t, control, parts["./data.tar.gz"])
}

func checkData(t *testing.T, hdrs map[string]*tar.Header, data map[string][]byte) {
	t.Helper()
	want := map[string]struct {
		mode int64
		src  string
	}{
		"./usr/sbin/natp2p-agent":         {0o755, ""},
		"./etc/init.d/natp2p":             {0o755, "../openwrt/natp2p/files/natp2p.init"},
		"./etc/config/natp2p":             {0o644, "../openwrt/natp2p/files/natp2p.config"},
		"./etc/hotplug.d/iface/90-natp2p": {0o644, "../openwrt/natp2p/files/natp2p.hotplug"},
	}
	for name, w := range want {
		h, ok := hdrs[name]
		if !ok {
			t.Errorf("data lacks %s", name)
			continue
		}
		if h.Mode&0o777 != w.mode || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mode %o owner %d:%d, want %o 0:0", name, h.Mode&0o777, h.Uid, h.Gid, w.mode)
		}
		if w.src != "" {
			if src, _ := os.ReadFile(w.src); !bytes.Equal(src, data[name]) {
				t.Errorf("%s differs from %s", name, w.src)
			}
		}
	}
	f, err := elf.NewFile(bytes.NewReader(data["./usr/sbin/natp2p-agent"]))
	if err != nil {
		t.Fatalf("the agent is not an ELF binary: %v", err)
	}
	if f.Machine != elf.EM_MIPS || f.Class != elf.ELFCLASS32 || f.ByteOrder.String() != "LittleEndian" {
		t.Errorf("the agent is %v %v %v, want 32-bit little-endian MIPS", f.Machine, f.Class, f.ByteOrder)
	}
	if f.Section(".symtab") != nil {
		t.Error("the agent is not stripped")
	}
}

func checkControl(t *testing.T, control map[string][]byte, dataGz []byte) {
	t.Helper()
	c := string(control["./control"])
	mk, _ := os.ReadFile("../openwrt/natp2p/Makefile")
	v := regexp.MustCompile(`(?m)^PKG_VERSION:=(\S+)$`).FindSubmatch(mk)[1]
	r := regexp.MustCompile(`(?m)^PKG_RELEASE:=(\S+)$`).FindSubmatch(mk)[1]
	zr, _ := gzip.NewReader(bytes.NewReader(dataGz))
	size, _ := io.Copy(io.Discard, zr)
	for _, field := range []string{
		"Package: natp2p\n", "Version: " + string(v) + "-" + string(r) + "\n",
		"Architecture: mipsel_24kc\n", "Depends: libc, kmod-nf-conntrack-netlink\n",
		"Installed-Size: " + strconv.FormatInt(size, 10) + "\n", "License: MIT\n", "Description:  ",
	} {
		if !strings.Contains(c, field) {
			t.Errorf("control lacks %q:\n%s", field, c)
		}
	}
	if string(control["./conffiles"]) != "/etc/config/natp2p\n" {
		t.Errorf("conffiles = %q", control["./conffiles"])
	}
	for _, s := range []string{"./postinst", "./prerm"} {
		if !strings.Contains(string(control[s]), "default_"+strings.TrimPrefix(s, "./")+" $0 $@") {
			t.Errorf("%s is not OpenWrt's default script:\n%s", s, control[s])
		}
	}
}
