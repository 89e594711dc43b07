package metrics

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Device describes the router, for natp2p_device_info.
type Device struct {
	Model    string // the board, "TP-Link Archer C7 v5"; empty: unknown
	Firmware string // the firmware, "OpenWrt 24.10.0 r28427-6df0e3d02a"; empty: unknown
	// Backend is the firewall backend enforce mode uses (nftables,
	// iptables). If empty, the report's, and none in observe mode.
	Backend string
}

// maxInfo caps a device label's length: the files are the vendor's.
const maxInfo = 128

// The files ReadDevice reads, under its root, in the order it tries them.
var (
	// OpenWrt's board detection writes /tmp/sysinfo/model; device-tree
	// boards have /proc/device-tree/model; PCs have DMI.
	modelFiles = []string{"tmp/sysinfo/model", "proc/device-tree/model", "sys/class/dmi/id/product_name"}
	// openwrtRelease is OpenWrt's (and its forks') release file.
	openwrtRelease = "etc/openwrt_release"
	osRelease      = []string{"etc/os-release", "usr/lib/os-release"}
)

// ReadDevice reads the router's model and firmware from the file system
// under root ("" or "/" for the real one; tests point it at a fixture).
// What it cannot read stays empty.
func ReadDevice(root string) Device {
	if root == "" {
		root = "/"
	}
	var d Device
	for _, name := range modelFiles {
		if d.Model = readLine(filepath.Join(root, name)); d.Model != "" {
			break
		}
	}
	if kv := readEnv(filepath.Join(root, openwrtRelease)); kv != nil {
		d.Firmware = clean(strings.Join(nonEmpty(kv["DISTRIB_ID"], kv["DISTRIB_RELEASE"], kv["DISTRIB_REVISION"]), " "))
	}
	for _, name := range osRelease {
		if d.Firmware != "" {
			break
		}
		d.Firmware = clean(readEnv(filepath.Join(root, name))["PRETTY_NAME"])
	}
	return d
}

// readLine reads a file's first line, cleaned ("" when unreadable).
func readLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return clean(string(b))
}

// readEnv reads a shell-style KEY='value' file, as OpenWrt's and
// os-release are; nil when unreadable.
func readEnv(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		kv[k] = v
	}
	return kv
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// clean makes a vendor string a tidy label value: control characters (the
// device tree's NUL) become spaces, runs of spaces one, at most maxInfo
// bytes of whole runes.
func clean(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	for len(s) > maxInfo {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return strings.TrimSpace(s)
}
