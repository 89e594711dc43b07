//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/labagent"
)

// startLogged starts the daemon in enforce mode like startEnforcing, with
// its stderr in a file, and returns the file's path.
func (el *enforceLab) startLogged(t *testing.T, a *labagent.Agent) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "agent.log")
	args := []string{"-c", `exec "$0" "$@" 2>` + log, a.Bin, "run", "--socket", a.Socket, "--wan", el.WANIface,
		"--mode", "enforce", "--backend", string(el.fw), "--lan", el.LANIface}
	cmd, err := el.Router.Start(context.Background(), "sh", args...)
	if err != nil {
		t.Fatal(err)
	}
	a.Daemon = cmd
	waitFor(t, 10*time.Second, "the daemon", func() (bool, string) {
		_, _, err := a.Report(context.Background())
		return err == nil, fmt.Sprint(err)
	})
	return log
}

// openFDs counts a process's open file descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// alive reports whether the daemon still runs.
func alive(a *labagent.Agent) bool {
	return a.Daemon.ProcessState == nil && syscall.Kill(a.Daemon.Process.Pid, 0) == nil
}

// flood connects to the control socket at path, without a word, 5 times
// every 100 ms for d, and closes every connection at the end.
func flood(t *testing.T, path string, d time.Duration) int {
	t.Helper()
	var conns []net.Conn
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for range 5 {
			if c, err := net.DialTimeout("unix", path, 100*time.Millisecond); err == nil {
				conns = append(conns, c)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

// bigRequest sends a request of n bytes to the control socket at path and
// returns the reply's error.
func bigRequest(t *testing.T, path string, n int) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write([]byte(`{"cmd":"`))
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for i := 0; i < n>>20; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	var resp struct{ Error string }
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return "no reply: " + err.Error()
	}
	return resp.Error
}

// TestEnforceSurvivesExhaustion: a flood of control connections that
// runs the daemon out of file descriptors (its limit lowered to a few
// above what it uses) for longer than a WAN poll, and a 256 MB request,
// leave the daemon running, its pins in place and a live endpoint on its
// public port for a new destination; the shortage is logged as what it is.
func TestEnforceSurvivesExhaustion(t *testing.T) {
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		t.Run(string(fw), func(t *testing.T) { testSurvivesExhaustion(t, fw) })
	}
}

func testSurvivesExhaustion(t *testing.T, fw lab.Backend) {
	el := newEnforceLab(t, fw)
	a := newAgent(t, el.Lab)
	logPath := el.startLogged(t, a)
	privA := netip.AddrPortFrom(el.LAN[0].Addr(), 5000)
	sA := udp(t, el.LAN[0], privA, server(el.Lab, 0, 4000))
	pinsBefore := waitPins(t, a, 1).Enforcement.Pins
	pubA := kernelPublics(t, el.Lab, "udp", privA)

	rss, _ := a.RSS()
	if got := bigRequest(t, a.Socket, 256<<20); !strings.Contains(got, "longer than") {
		t.Errorf("a 256 MB request: reply %q, want it refused as too long", got)
	}
	if after, _ := a.RSS(); after-rss > 32<<20 {
		t.Errorf("a 256 MB request grew the daemon from %d to %d bytes", rss, after)
	}

	// The flood, its limit a few descriptors above what the daemon uses.
	base := openFDs(t, a.Daemon.Process.Pid)
	limit := base + 4
	setNoFile(t, el, a, limit)
	n := flood(t, a.Socket, 7*time.Second) // over a WAN poll (5 s)
	waitFor(t, 15*time.Second, "the daemon to close the flood's connections", func() (bool, string) {
		if !alive(a) {
			daemonLog(t, logPath, "the daemon died")
			t.Fatalf("the daemon died under a flood of %d control connections", n)
		}
		n := openFDs(t, a.Daemon.Process.Pid)
		return n <= base, fmt.Sprintf("%d descriptors open, %d before", n, base)
	})
	logs := daemonLog(t, logPath, fmt.Sprintf("%d connections against a limit of %d descriptors", n, limit))
	if !alive(a) {
		t.Fatalf("the daemon died under a flood of %d control connections", n)
	}
	if !strings.Contains(logs, "too many open files") {
		t.Errorf("the daemon never ran out of descriptors (limit %d): the flood proves nothing", limit)
	}
	stillPinned(t, el, a, sA, privA, pubA, pinsBefore, server(el.Lab, 1, 4001))

	// No descriptor to spare (beyond stdin, stdout and stderr) for a WAN
	// poll and its retries: the addresses and pins stay; they are read
	// again once there are.
	from := len(daemonLog(t, logPath, "after the flood"))
	setNoFile(t, el, a, 3)
	from = waitLog(t, logPath, from, 12*time.Second, "cannot read the WAN addresses")
	setNoFile(t, el, a, 1024)
	waitLog(t, logPath, from, 12*time.Second, "WAN addresses read again")
	if !alive(a) {
		t.Fatal("the daemon died out of descriptors")
	}
	stillPinned(t, el, a, sA, privA, pubA, pinsBefore, server(el.Lab, 0, 4001))
	if logs := daemonLog(t, logPath, "the daemon logged"); strings.Contains(logs, "WAN addresses changed") {
		t.Errorf("a shortage was taken for a WAN change")
	}
}

// setNoFile sets the daemon's soft limit of open files (raising a hard
// limit again may need CAP_SYS_RESOURCE).
func setNoFile(t *testing.T, el *enforceLab, a *labagent.Agent, n int) {
	t.Helper()
	pid := strconv.Itoa(a.Daemon.Process.Pid)
	if out, err := el.Router.Run(context.Background(), "prlimit", "--pid", pid, "--nofile="+strconv.Itoa(n)+":"); err != nil {
		t.Fatalf("prlimit: %v\n%s", err, out)
	}
}

// daemonLog returns the daemon's log, logging its tail under title.
func daemonLog(t *testing.T, path, title string) string {
	t.Helper()
	b, _ := os.ReadFile(path)
	t.Logf("%s; the daemon's log ends:\n%s", title, tail(string(b), 12))
	return string(b)
}

// waitLog waits until the daemon's log holds want after its first from
// bytes, and returns where want ends.
func waitLog(t *testing.T, path string, from int, timeout time.Duration, want string) int {
	t.Helper()
	end := -1
	waitFor(t, timeout, "the daemon to log "+want, func() (bool, string) {
		b, _ := os.ReadFile(path)
		b = b[min(from, len(b)):]
		if i := bytes.Index(b, []byte(want)); i >= 0 {
			end = from + i + len(want)
		}
		return end >= 0, tail(string(b), 3)
	})
	return end
}

// stillPinned checks that the daemon holds pins as before and that the
// live endpoint priv keeps its public endpoint for a new destination.
func stillPinned(t *testing.T, el *enforceLab, a *labagent.Agent, s *lab.UDPSession, priv netip.AddrPort, pub []netip.AddrPort, pins int, dst netip.AddrPort) {
	t.Helper()
	r, _ := getReport(t, a)
	if r.Enforcement == nil || r.Enforcement.Pins != pins {
		t.Errorf("the enforcement is %+v, want %d pins", r.Enforcement, pins)
	}
	if got, err := s.Send(context.Background(), dst); err != nil || len(got) != 1 {
		t.Fatalf("%s to a new destination %s: %v, %v", priv, dst, got, err)
	}
	if got := kernelPublics(t, el.Lab, "udp", priv); len(got) != 1 || len(pub) != 1 || got[0] != pub[0] {
		t.Errorf("%s has public endpoints %v, want only %v", priv, got, pub)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
