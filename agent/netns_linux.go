//go:build linux

package agent

import (
	"errors"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// threadNetns is the calling thread's network namespace in procfs (not
// /proc/self, which is the process's main thread's).
const threadNetns = "/proc/thread-self/ns/net"

// newNetns creates an anonymous network namespace and returns a handle
// that keeps it alive: it dies when the handle is closed and no socket or
// link holds it any more.
func newNetns() (ns *os.File, err error) {
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); errors.Is(err, unix.EINVAL) {
			return errNoNetns
		} else if err != nil {
			return err
		}
		// No IPv6 inside, before any link is there: no link-local address,
		// no SLAAC from the LAN's router advertisements, no solicitations.
		// Absent without IPv6 in the kernel, which is quiet anyway.
		for _, c := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		ns, err = os.Open(threadNetns)
		return err
	})
	return ns, err
}

// inNetns runs fn on a thread inside the namespace ns.
func inNetns(ns *os.File, fn func() error) error {
	return onThread(func() error {
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			return err
		}
		return fn()
	})
}

// onThread runs fn on a goroutine locked to its OS thread, and then moves
// the thread back to the agent's namespace. A thread that cannot move
// back stays locked, and the Go runtime ends it with the goroutine: no
// other goroutine ever runs in the wrong namespace.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open(threadNetns)
		if err != nil {
			errc <- err
			return // still locked: the thread goes with the goroutine
		}
		defer back.Close()
		err = fn()
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// ownNetns opens the agent's network namespace: that of the calling
// thread, locked so that no other goroutine can move it meanwhile.
func ownNetns() (*os.File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return os.Open(threadNetns)
}
