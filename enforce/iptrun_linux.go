//go:build linux

package enforce

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// iptRunner runs the iptables tools. execRunner runs them; tests give the
// backend a fake that records the commands and scripts the answers.
type iptRunner interface {
	// LookPath finds a tool, as exec.LookPath does.
	LookPath(file string) (string, error)
	// Run runs argv, fed stdin when it is not nil, and returns its
	// standard output. A tool that ran and exited with a status other
	// than 0 fails with an *iptExitError.
	Run(argv []string, stdin []byte) ([]byte, error)
}

// execRunner is the iptRunner of os/exec.
type execRunner struct{}

func (execRunner) LookPath(file string) (string, error) { return exec.LookPath(file) }

func (execRunner) Run(argv []string, stdin []byte) ([]byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return stdout.Bytes(), &iptExitError{Tool: filepath.Base(argv[0]), Code: exit.ExitCode(), Stderr: stderr.String()}
	case err != nil:
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// Exit statuses of the iptables tools (enum xtables_exittype), as
// iptables 1.8.9, nf_tables and legacy alike, exits.
const (
	// iptExitOther: iptables -S of a chain that does not exist ("No
	// chain/target/match by that name", or "incompatible" from
	// iptables-nft), iptables-restore deleting a rule that does not.
	iptExitOther = 1
	// iptExitParameter: a usage error; iptables-restore's for a line it
	// cannot take (a jump to a missing chain, a table it cannot open).
	iptExitParameter = 2
	// iptExitVersion: iptables cannot open the table: no such table,
	// or (legacy) no permission.
	iptExitVersion = 3
	// iptExitResource: no permission (iptables-nft), the xtables lock
	// cannot be opened or is held.
	iptExitResource = 4
)

// iptExitError is an iptables tool's exit with a status other than 0.
type iptExitError struct {
	Tool   string // the tool's base name
	Code   int    // exit status: iptExit*
	Stderr string
}

// Error reads as an *exec.ExitError with the tool's complaint.
func (e *iptExitError) Error() string {
	return "exit status " + strconv.Itoa(e.Code) + ": " + e.Stderr
}

// Is maps the exit statuses of an unusable environment (iptExitVersion,
// iptExitResource) to os.ErrPermission and errNoNATTable, as iptCause
// tells them apart.
func (e *iptExitError) Is(target error) bool {
	if e.Code != iptExitVersion && e.Code != iptExitResource {
		return false
	}
	cause := iptCause(e.Stderr)
	return cause != nil && cause == target
}

// errNoNATTable: the kernel has no iptables nat table.
var errNoNATTable = errors.New("no iptables nat table")

// iptCause tells apart what an exit with iptExitVersion or iptExitResource
// means, from the tool's complaint: os.ErrPermission, errNoNATTable, or
// nil for anything else (a held xtables lock). The status alone cannot
// tell: legacy iptables exits 3 both without permission and without the
// table, and 4 both when the lock file cannot be opened and when another
// holds the lock. It is the only reading of a tool's text; tests replace
// it, as tailscale's isNotExistError.
var iptCause = func(stderr string) error {
	lower := strings.ToLower(stderr)
	switch {
	case strings.Contains(lower, "permission denied"):
		return os.ErrPermission
	case strings.Contains(lower, "table does not exist") || strings.Contains(lower, "table 'nat' does not exist"):
		return errNoNATTable
	}
	return nil
}

// iptError names the operation and turns the common failures into advice.
func iptError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("iptables %s: %v (install iptables, or use --backend nftables)", op, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("iptables %s: permission denied (run as root)", op)
	case errors.Is(err, errNoNATTable):
		return fmt.Errorf("iptables %s: the kernel has no iptables nat table (load iptable_nat, or use --backend nftables)", op)
	}
	return fmt.Errorf("iptables %s: %s", op, oneLine(err.Error()))
}

// oneLine joins a tool's output lines, without its usage hints.
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Try `") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
