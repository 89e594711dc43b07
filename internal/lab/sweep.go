//go:build linux

package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// labName matches the namespaces this package creates:
// np<creating pid>-<6 hex digits>-<role>.
var labName = regexp.MustCompile(`^np([0-9]+)-[0-9a-f]{6}-[a-z0-9]+$`)

// newPrefix returns np<pid>-<random hex>, unique per lab.
func newPrefix() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		b = []byte{byte(time.Now().UnixNano()), byte(os.Getpid()), 0x5a}
	}
	return fmt.Sprintf("np%d-%s", os.Getpid(), hex.EncodeToString(b))
}

// ownerPID returns the creating pid encoded in a lab namespace name.
func ownerPID(name string) (int, bool) {
	m := labName.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	pid, err := strconv.Atoi(m[1])
	return pid, err == nil && pid > 0
}

func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Sweep deletes leftover lab namespaces (named np<pid>-<hex>-<role>) whose
// creating process no longer exists, killing any process still inside
// them. Namespaces of live processes, and any other namespace, are left
// alone. New calls it automatically.
func Sweep() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return sweep(ctx, discard)
}

func sweep(ctx context.Context, logf logFunc) error {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: sweep: %w", err)
	}
	var errs []error
	for _, e := range entries {
		pid, ok := ownerPID(e.Name())
		if !ok || pidAlive(pid) {
			continue
		}
		errs = append(errs, sweepOne(ctx, logf, e.Name()))
	}
	return errors.Join(errs...)
}

func sweepOne(ctx context.Context, logf logFunc, name string) error {
	logf("lab: sweep: removing leftover namespace %s", name)
	out, err := runCmd(logf, exec.CommandContext(ctx, "ip", "netns", "pids", name), nil)
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, perr := strconv.Atoi(f); perr == nil && pid > 1 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	_, err = runCmd(logf, exec.CommandContext(ctx, "ip", "netns", "del", name), nil)
	return err
}
