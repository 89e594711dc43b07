package cross

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// emulated are the router targets run under qemu-user: big- and
// little-endian MIPS and 32-bit ARM, old and new.
var emulated = []struct {
	name, goarch, variant, qemu string
}{
	{"mips", "mips", "GOMIPS=softfloat", "qemu-mips-static"},
	{"mipsle", "mipsle", "GOMIPS=softfloat", "qemu-mipsel-static"},
	{"armv5", "arm", "GOARM=5", "qemu-arm-static"},
	{"armv7", "arm", "GOARM=7", "qemu-arm-static"},
}

func buildAgent(t *testing.T, dir, goarch, variant string) string {
	t.Helper()
	bin := filepath.Join(dir, "natp2p-agent-"+goarch+strings.ReplaceAll(variant, "=", ""))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=cross-test", "-o", bin, "../cmd/natp2p-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if variant != "" {
		cmd.Env = append(cmd.Env, variant)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", goarch, err, out)
	}
	return bin
}

// run runs argv and returns stdout and the exit status.
func run(t *testing.T, argv ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", argv, err)
	}
	return stdout.String(), 0
}

// TestAgentUnderQemu runs each target's build under its emulator on a
// snapshot saved in the lab: version, check-config and report --from must
// print exactly what the native build prints (qemu-user cannot open
// conntrack's netlink socket, so the kernel paths stay with the lab tests).
func TestAgentUnderQemu(t *testing.T) {
	dir := t.TempDir()
	native := buildAgent(t, dir, runtime.GOARCH, "")
	commands := [][]string{
		{"version"},
		{"check-config", "--config", "../openwrt/natp2p/files/natp2p.config"},
		{"report", "--json", "--from", "testdata/snapshot.json"},
		{"report", "--from", "testdata/snapshot.json"},
		{"mappings", "--from", "testdata/snapshot.json"},
	}
	for _, e := range emulated {
		t.Run(e.name, func(t *testing.T) {
			qemu, err := exec.LookPath(e.qemu)
			if err != nil {
				if os.Getenv("NATP2P_REQUIRE_QEMU") == "1" {
					t.Fatalf("%s is required (NATP2P_REQUIRE_QEMU=1): install qemu-user-static", e.qemu)
				}
				t.Skipf("%s not installed", e.qemu)
			}
			bin := buildAgent(t, dir, e.goarch, e.variant)
			for _, args := range commands {
				want, wantCode := run(t, append([]string{native}, args...)...)
				got, code := run(t, append([]string{qemu, bin}, args...)...)
				if got != want || code != wantCode {
					t.Errorf("%s %v: exit %d, output differs from native (exit %d):\n--- native\n%s\n--- %s\n%s",
						e.name, args, code, wantCode, want, e.name, got)
				}
			}
		})
	}
}
