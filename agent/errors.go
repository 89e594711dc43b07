package agent

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Errors callers branch on to print an actionable message.
var (
	// ErrNoConntrack: the kernel has no conntrack netlink interface.
	ErrNoConntrack = errors.New("the kernel's conntrack netlink interface (nf_conntrack_netlink) is missing: load it with 'modprobe nf_conntrack_netlink'")
	// ErrNoDaemon: no agent answers on the control socket.
	ErrNoDaemon = errors.New("no natp2p-agent is running")
	// ErrUnsupported: this platform has no conntrack.
	ErrUnsupported = errors.New("conntrack is only available on Linux")
)

// errDumpInterrupted: the kernel flagged a dump inconsistent
// (NLM_F_DUMP_INTR), as when its table changed under it: dump again.
var errDumpInterrupted = errors.New("dump interrupted (NLM_F_DUMP_INTR)")

// OpError is a failed kernel operation.
type OpError struct {
	Op  string // "dial", "dump", "listen", ...
	Err error
}

func (e *OpError) Error() string { return fmt.Sprintf("conntrack %s: %v", e.Op, e.Err) }

func (e *OpError) Unwrap() error { return e.Err }

// Is maps the kernel's errnos to the errors callers know: EPERM and EACCES
// to os.ErrPermission; EPROTONOSUPPORT, ENOENT and EOPNOTSUPP (no
// ctnetlink) to ErrNoConntrack.
func (e *OpError) Is(target error) bool {
	switch target {
	case os.ErrPermission:
		return errors.Is(e.Err, unix.EPERM) || errors.Is(e.Err, unix.EACCES)
	case ErrNoConntrack:
		return errors.Is(e.Err, unix.EPROTONOSUPPORT) || errors.Is(e.Err, unix.ENOENT) ||
			errors.Is(e.Err, unix.EOPNOTSUPP)
	}
	return false
}

func opError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Err: err}
}
