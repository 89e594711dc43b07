//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// logFunc is a printf-style logger; never nil where used.
type logFunc func(format string, args ...any)

func discard(string, ...any) {}

// run runs a host-side command (only `ip netns ...` and `ip -n NS ...`,
// which act inside lab namespaces).
func (l *Lab) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runCmd(l.cfg.logf, exec.CommandContext(ctx, name, args...), nil)
}

func (l *Lab) runCmd(cmd *exec.Cmd, stdin []byte) ([]byte, error) {
	return runCmd(l.cfg.logf, cmd, stdin)
}

// runCmd runs cmd with optional stdin, logging it, and returns its combined
// output. The error names the command line and includes its output.
func runCmd(logf logFunc, cmd *exec.Cmd, stdin []byte) ([]byte, error) {
	line := cmdline(cmd)
	logf("lab: run: %s", line)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, wrapCmdErr(cmd, err, out)
	}
	return out, nil
}

func cmdline(cmd *exec.Cmd) string {
	return strings.Join(cmd.Args, " ")
}

func wrapCmdErr(cmd *exec.Cmd, err error, out []byte) error {
	return fmt.Errorf("lab: %s: %w: %s", cmdline(cmd), err, bytes.TrimSpace(out))
}
