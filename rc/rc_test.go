package rc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	beginMark = "# >>> natp2p >>>"
	endMark   = "# <<< natp2p <<<"
	persist   = "etc/persistent" // under the fake root
	logFile   = "/var/log/natp2p-agent.log"
	pidFile   = "var/run/natp2p-agent.pid"
)

// shell runs the scripts: /bin/sh (dash on Debian), or busybox sh with
// busybox's tools first on PATH, as on AirOS.
type shell struct {
	name string
	argv []string
	path string
}

func shells(t *testing.T) []shell {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the rc scripts target Linux routers and read /proc")
	}
	out := []shell{{name: "sh", argv: []string{"/bin/sh"}, path: os.Getenv("PATH")}}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Log("busybox is not installed: running the scripts with /bin/sh only")
		return out
	}
	return append(out, shell{name: "busybox", argv: []string{bb, "sh"}, path: busyboxPath(t, bb)})
}

// busyboxPath returns a PATH that finds busybox's applets (sh, awk, grep,
// df, sleep, ...) before the host's tools.
func busyboxPath(t *testing.T, bb string) string {
	t.Helper()
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	dir := t.TempDir()
	for _, applet := range strings.Fields(string(list)) {
		if err := os.Symlink(bb, filepath.Join(dir, applet)); err != nil {
			t.Fatal(err)
		}
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// env is this process's environment without NATP2P_* (a developer's own
// settings must not change the tests), with the shell's PATH and extra.
func (s shell) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATP2P_") && !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return append(append(out, "PATH="+s.path), extra...)
}

// run runs the shell with args in this folder. A background process left
// holding the output pipes would block Wait (and would hang AirOS's rc
// too); WaitDelay turns that into an error.
func (s shell) run(env []string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(s.argv[0], append(s.argv[1:], args...)...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	return o.String(), e.String(), err
}

// fake describes the stand-in for natp2p-agent.
type fake struct {
	wrongArch  bool // `version` fails as a binary for another CPU does
	ignoreTERM bool // only KILL stops it
	padKB      int  // grow the file to about this size
}

// script writes the fake agent. It records its arguments in args when run,
// fails check-config while the file badConfig exists, and logs one line.
func (f fake) script(args, badConfig string) string {
	version := `echo "natp2p-agent 1.2.3-test"`
	if f.wrongArch {
		version = `echo "cannot execute binary file: Exec format error" >&2; exit 126`
	}
	term := `'exit 0'`
	if f.ignoreTERM {
		term = `''`
	}
	s := fmt.Sprintf(`#!/bin/sh
# A stand-in for natp2p-agent in rc's tests.
case $1 in
version) %s ;;
check-config) [ ! -e '%s' ] || { echo "line 3: unknown option" >&2; exit 2; } ;;
cleanup) printf '%%s\n' "$@" >'%[4]s.cleanup' ;;
run)
	trap %[3]s TERM
	printf '%%s\n' "$@" >'%[4]s'
	echo "fake agent running" >&2
	while :; do sleep 1 & wait $!; done
	;;
esac
`, version, badConfig, term, args)
	if pad := f.padKB*1024 - len(s); pad > 0 {
		s += "#" + strings.Repeat("x", pad) + "\n"
	}
	return s
}

// lab is a fake device: a root directory, a fake agent to install, and the
// shell to run everything with.
type lab struct {
	t         *testing.T
	sh        shell
	root      string // the device's /
	agent     string // the binary to install
	args      string // where the fake agent records its arguments
	badConfig string // while this exists, check-config fails
}

func newLab(t *testing.T, sh shell, f fake) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{t: t, sh: sh, root: filepath.Join(dir, "root"), agent: filepath.Join(dir, "src", "natp2p-agent"),
		args: filepath.Join(dir, "args"), badConfig: filepath.Join(dir, "bad-config")}
	l.write(filepath.Join(dir, "src", "natp2p-agent"), f.script(l.args, l.badConfig), 0o755)
	if err := os.MkdirAll(filepath.Join(l.root, persist), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.killAgent)
	return l
}

func (l *lab) write(path, content string, mode fs.FileMode) {
	l.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is cut by the umask
		l.t.Fatal(err)
	}
}

// read returns the file at rel under the root; "" if there is none.
func (l *lab) read(rel string) string {
	b, err := os.ReadFile(filepath.Join(l.root, rel))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.t.Fatal(err)
	}
	return string(b)
}

func (l *lab) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(l.root, rel))
	return err == nil
}

// install runs install.sh --root against the lab, with --bin the fake.
func (l *lab) install(env []string, args ...string) (stdout, stderr string, err error) {
	all := append([]string{"install.sh", "--root", l.root, "--bin", l.agent}, args...)
	return l.sh.run(l.sh.env(env...), all...)
}

func (l *lab) mustInstall(args ...string) {
	l.t.Helper()
	if out, errOut, err := l.install(nil, args...); err != nil {
		l.t.Fatalf("install.sh %v: %v\n%s%s", args, err, out, errOut)
	}
}

func (l *lab) mustUninstall() {
	l.t.Helper()
	out, errOut, err := l.sh.run(l.sh.env(), "install.sh", "--root", l.root, "--uninstall")
	if err != nil {
		l.t.Fatalf("install.sh --uninstall: %v\n%s%s", err, out, errOut)
	}
}

// source sources a hook the way AirOS's rc does, then reports whether the
// sourcing shell went on and whether natp2p's names leaked into it.
func (l *lab) source(hook string) (stdout, stderr string) {
	l.t.Helper()
	const script = `. "$1"; echo still-running
command -v natp2p_start >/dev/null && echo leaked-function
[ -z "${NATP2P_DIR+set}" ] || echo leaked-variable`
	env := l.sh.env("NATP2P_ROOT="+l.root, "NATP2P_LOG="+logFile)
	stdout, stderr, err := l.sh.run(env, "-c", script, "sh", filepath.Join(l.root, persist, hook))
	if err != nil {
		l.t.Fatalf("sourcing %s: %v\n%s%s", hook, err, stdout, stderr)
	}
	if !strings.HasSuffix(stdout, "still-running\n") {
		l.t.Errorf("sourcing %s: the shell did not go on after it (no exit allowed); stdout:\n%s", hook, stdout)
	}
	return stdout, stderr
}

// pid returns the pid in the agent's pid file; 0 if there is none.
func (l *lab) pid() int {
	s := strings.TrimSpace(l.read(pidFile))
	if s == "" {
		return 0
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		l.t.Fatalf("pid file holds %q", s)
	}
	return pid
}

func (l *lab) killAgent() {
	if pid := l.pid(); pid > 0 && running(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// running reports whether pid is a live process (a zombie is not: nothing
// may reap orphans in a test container).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return after != "" && after[0] != 'Z'
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// tree maps each file under dir to "mode\ncontent", by relative path.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = fmt.Sprintf("%v\n%s", info.Mode(), b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// foreignHooks are someone else's hooks: ours must leave every byte alone.
// rc.prestop does not exist, so install.sh creates it.
var foreignHooks = []struct {
	name, content string
	mode          fs.FileMode
}{
	{"rc.prestart", "#!/bin/sh\n# the admin's: before services\necho foreign-prestart\n", 0o755},
	{"rc.poststart", "#!/bin/sh\n# the admin's own\nFOREIGN=1\n\n# >>> other-tool >>>\necho foreign-poststart\n", 0o755},
	{"rc.poststop", "echo foreign-poststop\n", 0o644},
}

func (l *lab) writeForeignHooks() map[string]string {
	for _, h := range foreignHooks {
		l.write(filepath.Join(l.root, persist, h.name), h.content, h.mode)
	}
	return tree(l.t, filepath.Join(l.root, persist))
}

func TestInstallLifecycle(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, sh, fake{})
			before := l.writeForeignHooks()
			l.mustInstall()
			l.checkBlocks()
			first := tree(t, l.root)
			l.mustInstall()
			if diff := cmp.Diff(first, tree(t, l.root)); diff != "" {
				t.Errorf("a second install changed files (-first +second):\n%s", diff)
			}
			l.checkStartStop("--config\n" + filepath.Join(l.root, persist, "natp2p/natp2p.conf"))
			l.mustUninstall()
			l.mustUninstall() // a second one finds nothing to do
			if diff := cmp.Diff(before, tree(t, filepath.Join(l.root, persist))); diff != "" {
				t.Errorf("uninstall did not restore /etc/persistent (-before +after):\n%s", diff)
			}
		})
	}
}

// checkBlocks: the foreign hooks keep every byte, ours is appended once to
// rc.poststart and is all of the new rc.prestop, and the hooks that need
// nothing from us are untouched.
func (l *lab) checkBlocks() {
	l.t.Helper()
	for _, h := range foreignHooks {
		got := l.read(filepath.Join(persist, h.name))
		switch h.name {
		case "rc.poststart":
			if !strings.HasPrefix(got, h.content) || strings.Count(got, beginMark) != 1 ||
				strings.Count(got, endMark) != 1 || !strings.HasSuffix(got, endMark+"\n") {
				l.t.Errorf("rc.poststart: want the foreign lines, then our block once; got:\n%s", got)
			}
		default:
			if got != h.content {
				l.t.Errorf("%s changed:\n%s", h.name, got)
			}
		}
	}
	prestop := l.read(filepath.Join(persist, "rc.prestop"))
	if !strings.HasPrefix(prestop, "#!/bin/sh\n"+beginMark+"\n") || !strings.Contains(prestop, "natp2p_stop") {
		l.t.Errorf("rc.prestop: want #!/bin/sh and a block calling natp2p_stop; got:\n%s", prestop)
	}
	if info, err := os.Stat(filepath.Join(l.root, persist, "rc.prestop")); err != nil || info.Mode().Perm() != 0o755 {
		l.t.Errorf("rc.prestop: want mode 0755; stat: %v, %v", info, err)
	}
}

// checkStartStop: rc.poststart starts the agent in the background with the
// right arguments and a pid file; rc.prestop stops it and removes the file.
func (l *lab) checkStartStop(wantArgs string) {
	l.t.Helper()
	out, errOut := l.source("rc.poststart")
	if !strings.Contains(out, "foreign-poststart") || strings.Contains(out, "leaked") {
		l.t.Errorf("rc.poststart: want the foreign line run and no natp2p name left behind; stdout:\n%s", out)
	}
	if !strings.Contains(errOut, "natp2p: started natp2p-agent (pid ") {
		l.t.Errorf("rc.poststart stderr: %q", errOut)
	}
	pid := l.pid()
	if pid == 0 || !running(pid) {
		l.t.Fatalf("after rc.poststart: pid file %q, want a running agent", l.read(pidFile))
	}
	waitFor(l.t, "the fake agent's arguments", func() bool { b, _ := os.ReadFile(l.args); return len(b) > 0 })
	if got, _ := os.ReadFile(l.args); string(got) != "run\n"+wantArgs+"\n" {
		l.t.Errorf("agent arguments: got %q, want %q", got, "run\n"+wantArgs+"\n")
	}
	waitFor(l.t, "the agent's stderr in "+logFile, func() bool { return strings.Contains(l.read(logFile), "fake agent running") })
	if _, errOut = l.source("rc.prestop"); running(pid) || l.exists(pidFile) {
		l.t.Errorf("after rc.prestop: agent running %v, pid file present %v; stderr %q", running(pid), l.exists(pidFile), errOut)
	}
	// Stopping takes enforce mode's rules out, with the same config.
	if got, _ := os.ReadFile(l.args + ".cleanup"); string(got) != "cleanup\n"+wantArgs+"\n" {
		l.t.Errorf("after rc.prestop: cleanup arguments %q, want %q", got, "cleanup\n"+wantArgs+"\n")
	}
}

func TestReinstallReplacesOurBlockInPlace(t *testing.T) {
	l := newLab(t, shells(t)[0], fake{})
	hook := filepath.Join(persist, "rc.poststart")
	l.write(filepath.Join(l.root, hook), "echo one\n"+beginMark+"\necho stale\n"+endMark+
		"\necho two\n"+beginMark+"\necho second copy\n"+endMark+"\n", 0o755)
	l.mustInstall()
	got := l.read(hook)
	if !strings.HasPrefix(got, "echo one\n"+beginMark+"\n") || !strings.HasSuffix(got, endMark+"\necho two\n") ||
		strings.Count(got, beginMark) != 1 || !strings.Contains(got, "natp2p_start") || strings.Contains(got, "stale") {
		t.Errorf("want our old block replaced in place, its copy dropped; got:\n%s", got)
	}
}

func TestInstallRefusesUnmatchedMarker(t *testing.T) {
	l := newLab(t, shells(t)[0], fake{})
	l.write(filepath.Join(l.root, persist, "rc.poststart"), "echo one\n"+beginMark+"\necho two\n", 0o755)
	before := tree(t, l.root)
	for _, args := range [][]string{nil, {"--uninstall"}} {
		_, errOut, err := l.install(nil, args...)
		want := "natp2p: /etc/persistent/rc.poststart: a natp2p marker line has no partner: fix the file by hand\n"
		if err == nil || errOut != want {
			t.Errorf("install.sh %v: err %v, stderr %q; want a failure saying %q", args, err, errOut, want)
		}
	}
	if diff := cmp.Diff(before, tree(t, l.root)); diff != "" {
		t.Errorf("a refused install wrote files (-before +after):\n%s", diff)
	}
}

func TestInstallChecksFreeSpace(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, sh, fake{padKB: 200})
			before := l.writeForeignHooks()
			_, errOut, err := l.install([]string{"NATP2P_FREE_KB=64"})
			if err == nil || !strings.HasPrefix(errOut, "natp2p: ") || !strings.Contains(errOut, "only 64 KiB are free") ||
				!strings.Contains(errOut, "--bin-dir DIR") {
				t.Errorf("a 200 KiB binary with 64 KiB free: err %v, stderr %q; want a refusal pointing to --bin-dir", err, errOut)
			}
			if diff := cmp.Diff(before, tree(t, filepath.Join(l.root, persist))); diff != "" {
				t.Errorf("a refused install wrote files (-before +after):\n%s", diff)
			}
			if _, errOut, err = l.install([]string{"NATP2P_FREE_KB=1"}, "--bin-dir", "/mnt/usb"); err == nil ||
				!strings.Contains(errOut, "natp2p's scripts need") {
				t.Errorf("1 KiB free, --bin-dir: err %v, stderr %q; want a refusal", err, errOut)
			}
			l.checkBinDir(before)
		})
	}
}

// checkBinDir: with --bin-dir the binary lives there, the hooks run it from
// there, and uninstall removes it.
func (l *lab) checkBinDir(before map[string]string) {
	l.t.Helper()
	if out, errOut, err := l.install([]string{"NATP2P_FREE_KB=64"}, "--bin-dir", "/mnt/usb/"); err != nil {
		l.t.Fatalf("install --bin-dir: %v\n%s%s", err, out, errOut)
	}
	want, _ := os.ReadFile(l.agent)
	if l.read("mnt/usb/natp2p-agent") != string(want) || l.exists(filepath.Join(persist, "natp2p/natp2p-agent")) {
		l.t.Error("want the binary in /mnt/usb only")
	}
	if got := l.read(filepath.Join(persist, "rc.poststart")); !strings.Contains(got, "export NATP2P_BIN='/mnt/usb/natp2p-agent' && ") {
		l.t.Errorf("rc.poststart does not point at /mnt/usb:\n%s", got)
	}
	l.source("rc.poststart")
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", l.pid()))
	if !bytes.Contains(cmdline, []byte(filepath.Join(l.root, "mnt/usb/natp2p-agent"))) {
		l.t.Errorf("the agent runs as %q, want the one in /mnt/usb", cmdline)
	}
	l.source("rc.prestop")
	l.mustUninstall()
	if l.exists("mnt/usb/natp2p-agent") {
		l.t.Error("uninstall left /mnt/usb/natp2p-agent")
	}
	if diff := cmp.Diff(before, tree(l.t, filepath.Join(l.root, persist))); diff != "" {
		l.t.Errorf("uninstall did not restore /etc/persistent (-before +after):\n%s", diff)
	}
}

func TestInstallRefusesBinaryForAnotherCPU(t *testing.T) {
	l := newLab(t, shells(t)[0], fake{wrongArch: true})
	arch, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, err := l.install(nil)
	want := fmt.Sprintf("natp2p: %s does not run on this %s machine (cannot execute binary file: Exec format error): install the natp2p-agent built for %[2]s\n",
		l.agent, strings.TrimSpace(string(arch)))
	if err == nil || errOut != want {
		t.Errorf("err %v, stderr %q; want %q", err, errOut, want)
	}
	if l.exists(filepath.Join(persist, "natp2p")) {
		t.Error("a refused install created /etc/persistent/natp2p")
	}
}

func TestInstallNeedsRoot(t *testing.T) {
	sh := shells(t)[0]
	args := append(sh.argv, "install.sh", "--bin", "/nonexistent")
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root and setpriv (util-linux) is missing: cannot drop root")
		}
		args = append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = sh.env()
	out, err := cmd.CombinedOutput()
	want := "natp2p: run install.sh as root (or stage into a directory with --root DIR)\n"
	if err == nil || string(out) != want {
		t.Errorf("install.sh as a user: err %v, output %q; want %q", err, out, want)
	}
}

func TestConfigIsChecked(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, sh, fake{})
			l.write(l.badConfig, "", 0o644)
			_, errOut, err := l.install(nil)
			if err == nil || !strings.HasSuffix(errOut, "/rc/natp2p.conf: line 3: unknown option\n") {
				t.Errorf("install with a config the agent rejects: err %v, stderr %q", err, errOut)
			}
			os.Remove(l.badConfig)
			l.mustInstall()
			l.write(l.badConfig, "", 0o644)
			_, errOut = l.source("rc.poststart")
			want := "natp2p: /etc/persistent/natp2p/natp2p.conf: line 3: unknown option\n"
			if errOut != want || l.exists(pidFile) {
				t.Errorf("rc.poststart with a bad config: stderr %q, pid file %v; want %q and no start", errOut, l.exists(pidFile), want)
			}
		})
	}
}

func TestDisabledAgentDoesNotStart(t *testing.T) {
	l := newLab(t, shells(t)[0], fake{})
	l.mustInstall()
	conf := filepath.Join(l.root, persist, "natp2p/natp2p.conf")
	l.write(conf, strings.Replace(l.read(filepath.Join(persist, "natp2p/natp2p.conf")), "option enabled '1'", "option enabled '0'", 1), 0o644)
	_, errOut := l.source("rc.poststart")
	if !strings.Contains(errOut, "natp2p: disabled in /etc/persistent/natp2p/natp2p.conf") || l.exists(pidFile) {
		t.Errorf("enabled '0': stderr %q, pid file %v; want no start", errOut, l.exists(pidFile))
	}
}

func TestStopKillsAgentIgnoringTERM(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, sh, fake{ignoreTERM: true})
			l.mustInstall()
			l.source("rc.poststart")
			pid := l.pid()
			waitFor(t, "the fake agent to set its TERM trap", func() bool { _, err := os.Stat(l.args); return err == nil })
			start := time.Now()
			_, errOut := l.source("rc.prestop")
			if took := time.Since(start); running(pid) || took < 4*time.Second || took > 8*time.Second {
				t.Errorf("stop: running %v after %v; want KILL after about 5 s", running(pid), took)
			}
			if !strings.Contains(errOut, "ignored TERM for 5 s: killing it") {
				t.Errorf("stop stderr: %q", errOut)
			}
		})
	}
}

func TestInitScript(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, sh, fake{})
			copyFile(t, "natp2p.sh", filepath.Join(l.root, "usr/lib/natp2p/natp2p.sh"))
			copyFile(t, "natp2p.conf", filepath.Join(l.root, "etc/natp2p/natp2p.conf"))
			copyFile(t, l.agent, filepath.Join(l.root, "usr/sbin/natp2p-agent"))
			l.checkInit()
		})
	}
}

// checkInit runs natp2p.init through start, status, restart and stop.
func (l *lab) checkInit() {
	l.t.Helper()
	l.initWant("status", 3, "natp2p: natp2p-agent is not running")
	l.initWant("start", 0, "natp2p: started natp2p-agent (pid ")
	first := l.pid()
	l.initWant("status", 0, fmt.Sprintf("natp2p: natp2p-agent is running (pid %d)", first))
	l.initWant("start", 0, "is already running")
	l.initWant("restart", 0, "natp2p: started natp2p-agent (pid ")
	if second := l.pid(); second == first || running(first) || !running(second) {
		l.t.Errorf("restart: pid %d -> %d; want the old one gone and a new one running", first, second)
	}
	if got, _ := os.ReadFile(l.args); !strings.Contains(string(got), filepath.Join(l.root, "etc/natp2p/natp2p.conf")) {
		l.t.Errorf("agent arguments %q: want the init script's config", got)
	}
	l.initWant("stop", 0, "natp2p: stopped natp2p-agent (pid ")
	l.initWant("status", 3, "natp2p: natp2p-agent is not running")
	l.initWant("bogus", 2, "usage: ")
}

func (l *lab) initWant(arg string, code int, want string) {
	l.t.Helper()
	env := l.sh.env("NATP2P_ROOT="+l.root, "NATP2P_LOG="+logFile)
	out, errOut, err := l.sh.run(env, "natp2p.init", arg)
	got := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		got = exit.ExitCode()
	} else if err != nil {
		l.t.Fatal(err)
	}
	if got != code || !strings.Contains(out+errOut, want) {
		l.t.Errorf("natp2p.init %s: exit %d, output %q; want exit %d and %q", arg, got, out+errOut, code, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o755)
	}
	if err == nil {
		err = os.WriteFile(to, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestLogPumpCapsTheFile(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "agent.log")
			const script = `. ./natp2p.sh
i=0
while [ $i -lt 100 ]; do echo "line $i: twenty-odd more bytes"; i=$((i + 1)); done | natp2p_log_pump "$1"`
			if out, errOut, err := sh.run(sh.env("NATP2P_LOG_MAX_KB=1"), "-c", script, "sh", log); err != nil {
				t.Fatalf("%v\n%s%s", err, out, errOut)
			}
			cur, old := readOrEmpty(log), readOrEmpty(log+".1")
			if len(cur) > 1100 || len(old) < 1024 || len(old) > 1100 ||
				!strings.HasSuffix(cur, "line 99: twenty-odd more bytes\n") {
				t.Errorf("with a 1 KiB cap: log %d bytes, log.1 %d bytes, log ends %q", len(cur), len(old), cur[max(0, len(cur)-40):])
			}
		})
	}
}

func readOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("NATP2P_REQUIRE_SHELLCHECK") == "1" {
			t.Fatal("shellcheck is not installed and NATP2P_REQUIRE_SHELLCHECK=1: apt-get install shellcheck")
		}
		t.Skip("shellcheck is not installed (apt-get install shellcheck); NATP2P_REQUIRE_SHELLCHECK=1 fails instead")
	}
	shellcheck(t, sc, shellFiles(t))
	// The hooks source natp2p.sh from a device path shellcheck cannot
	// follow here (SC1091); everything else must be clean.
	shellcheck(t, sc, generatedHooks(t), "-e", "SC1091")
}

func shellcheck(t *testing.T, sc string, files []string, opts ...string) {
	t.Helper()
	args := append(append([]string{"-s", "sh"}, opts...), files...)
	if out, err := exec.Command(sc, args...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// shellFiles lists this folder's shell scripts: *.sh, *.init, and any file
// starting with #!.
func shellFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".init") ||
			strings.HasPrefix(readOrEmpty(name), "#!")) {
			out = append(out, name)
		}
	}
	if len(out) < 3 {
		t.Fatalf("found only %v; want at least natp2p.sh, install.sh and natp2p.init", out)
	}
	return out
}

// generatedHooks installs twice (plain, and with --bin-dir) and returns the
// hook files install.sh wrote, so that our blocks are checked too.
func generatedHooks(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, args := range [][]string{nil, {"--bin-dir", "/mnt/usb"}} {
		l := newLab(t, shells(t)[0], fake{})
		l.mustInstall(args...)
		for _, h := range []string{"rc.poststart", "rc.prestop"} {
			out = append(out, filepath.Join(l.root, persist, h))
		}
	}
	return out
}

// TestSyslogPump checks the AirOS syslog path: each slog line of the agent
// reaches logger at its level's priority, without slog's timestamp, the
// message unquoted before its attributes.
func TestSyslogPump(t *testing.T) {
	const ts = "time=2026-12-07T09:05:03.000+00:00 "
	in := strings.Join([]string{
		ts + "level=INFO msg=started mode=observe wan=eth0",
		ts + `level=DEBUG msg="probe sent" to=192.0.2.1:3478`,
		ts + `level=WARN msg="events overflowed"`,
		ts + `level=ERROR msg=conntrack err="no such module"`,
		ts + `level=INFO msg="say \"hi\"" k=v`,
		ts + "level=DEBUG-4 msg=trace",
		"panic: runtime error: index out of range",
		"-v no newline at the end",
	}, "\n")
	want := strings.Join([]string{
		"-t|natp2p-agent|-p|daemon.info|--|started mode=observe wan=eth0",
		"-t|natp2p-agent|-p|daemon.debug|--|probe sent to=192.0.2.1:3478",
		"-t|natp2p-agent|-p|daemon.warning|--|events overflowed",
		`-t|natp2p-agent|-p|daemon.err|--|conntrack err="no such module"`,
		`-t|natp2p-agent|-p|daemon.info|--|"say \"hi\"" k=v`,
		"-t|natp2p-agent|-p|daemon.debug|--|trace",
		"-t|natp2p-agent|-p|daemon.err|--|panic: runtime error: index out of range",
		"-t|natp2p-agent|-p|daemon.err|--|-v no newline at the end",
	}, "\n") + "\n"
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logger, got := filepath.Join(dir, "logger"), filepath.Join(dir, "got")
			script := "#!/bin/sh\nIFS='|'; printf '%s\\n' \"$*\" >>'" + got + "'\n"
			if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			const pump = `. ./natp2p.sh; printf '%s' "$1" | natp2p_syslog_pump`
			if out, errOut, err := sh.run(sh.env("NATP2P_LOGGER="+logger), "-c", pump, "sh", in); err != nil {
				t.Fatalf("%v\n%s%s", err, out, errOut)
			}
			if diff := cmp.Diff(want, readOrEmpty(got)); diff != "" {
				t.Errorf("logger calls (-want +got):\n%s", diff)
			}
		})
	}
}
