//go:build integration

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The HTTP responder's caps, as the daemon configures it (internal/httpd's
// defaults).
const (
	scrapeConns       = 4
	scrapeReadTimeout = 5 * time.Second
)

// replayDaemon runs `natp2p-agent run --replay` on the saved report with
// metrics_listen on a free loopback port, as any user: no lab needed. It
// returns the daemon and the listen address once a scrape answers.
func replayDaemon(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	args = append([]string{"run", "--replay", "../../report/testdata/report.json", "--socket", filepath.Join(dir, "agent.sock"),
		"--log-target", "stderr", "--metrics-listen", addr}, args...)
	cmd := exec.Command(agentBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon: %s", stderr.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if status, _, err := scrape(addr, time.Second); err == nil && status == "200" {
			return cmd, addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaying daemon does not answer on %s", addr)
		}
	}
}

// scrape GETs /metrics and returns the status code and the body.
func scrape(addr string, timeout time.Duration) (string, string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", "", err
	}
	b, err := io.ReadAll(c)
	status, _, _ := strings.Cut(strings.TrimPrefix(string(b), "HTTP/1.1 "), " ")
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return status, body, err
}

// stall opens a connection that sends the start of a request and never
// finishes it.
func stall(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// held reports whether the daemon holds c open without an answer.
func held(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	c.SetReadDeadline(time.Time{})
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// TestStalledClientsDoNotBlockScrapes: a client that never finishes its
// request does not delay another scrape; clients holding every slot get
// the others a 503 at once, not a wait; the daemon drops them after its
// read timeout and scrapes succeed again.
func TestStalledClientsDoNotBlockScrapes(t *testing.T) {
	_, addr := replayDaemon(t)
	first := stall(t, addr)
	// A scrape blocked behind the stalled client would wait its read
	// timeout out.
	if status, body, err := scrape(addr, scrapeReadTimeout/2); status != "200" || !strings.Contains(body, "natp2p_check{") {
		t.Fatalf("scrape next to a stalled client: %q, %v", status, err)
	}
	// Stall every slot. A connection may be refused while the daemon
	// still closes the scrape before: open another then.
	stalled := []net.Conn{first}
	for try := 0; len(stalled) < scrapeConns; try++ {
		if try == 20 {
			t.Fatalf("only %d stalled connections held", len(stalled))
		}
		if c := stall(t, addr); held(c) {
			stalled = append(stalled, c)
		}
	}
	if status, _, err := scrape(addr, scrapeReadTimeout/2); status != "503" {
		t.Errorf("scrape with every slot stalled: %q, %v; want a 503 at once", status, err)
	}
	// The daemon closes the stalled connections after its read timeout
	// (one beyond the slots at once, with a 503).
	for _, c := range stalled {
		c.SetReadDeadline(time.Now().Add(2 * scrapeReadTimeout))
		if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("a stalled connection was not closed by the daemon: %v", err)
		}
	}
	if status, _, err := scrape(addr, scrapeReadTimeout/2); status != "200" {
		t.Errorf("scrape after the stalled clients were dropped: %q, %v", status, err)
	}
}

// TestEndlessRequestsHoldNoMemory: clients that send a request head
// without end (16 MB each, more than the sockets' buffers take) are cut
// off soon past the header cap, and the daemon's peak memory grows by
// less than one of them would send.
func TestEndlessRequestsHoldNoMemory(t *testing.T) {
	cmd, addr := replayDaemon(t)
	before := peakRSS(t, cmd.Process.Pid)
	const clients, each = 16, 16 << 20
	var wg sync.WaitGroup
	sent := make([]int, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * scrapeReadTimeout))
			w := bufio.NewWriter(c)
			w.WriteString("GET /metrics HTTP/1.1\r\nX-Endless: ")
			for sent[i] < each {
				n, err := w.Write(bytes.Repeat([]byte("a"), 64<<10))
				if sent[i] += n; err != nil {
					return
				}
			}
			w.Flush()
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range sent {
		total += n
	}
	for i, n := range sent {
		if n >= each {
			t.Errorf("client %d sent its whole %d MiB head: the daemon kept reading", i, each>>20)
		}
	}
	grew := peakRSS(t, cmd.Process.Pid) - before
	if grew > 4<<20 {
		t.Errorf("peak memory grew by %d KiB while clients sent %d KiB of endless heads", grew>>10, total>>10)
	}
	if status, _, err := scrape(addr, scrapeReadTimeout); status != "200" {
		t.Errorf("scrape after the endless clients: %q, %v", status, err)
	}
}

// peakRSS is the process's peak resident memory (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}
