//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// NS is one network namespace of a lab.
type NS struct {
	Name string // netns name, as in /run/netns

	lab   *Lab
	addrs []netip.Addr
	peers peerLog
}

// Path returns /run/netns/NAME, e.g. for a netlink client's namespace
// option (the caller opens it).
func (n *NS) Path() string { return "/run/netns/" + n.Name }

// Addr returns the namespace's first address (LAN host: 198.51.100.1x,
// WAN host: 203.0.113.10, router: 198.51.100.1).
func (n *NS) Addr() netip.Addr {
	if len(n.addrs) == 0 {
		return netip.Addr{}
	}
	return n.addrs[0]
}

// Command returns `ip netns exec NAME name args...`, not started.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", n.Name, name}, args...)
	return exec.CommandContext(ctx, "ip", argv...)
}

// Run runs name inside the namespace and returns its combined output. The
// error includes the command line and the output.
func (n *NS) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return n.lab.runCmd(n.Command(ctx, name, args...), nil)
}

// runStdin is Run with stdin.
func (n *NS) runStdin(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	return n.lab.runCmd(n.Command(ctx, name, args...), stdin)
}

// proc is a process started with NS.Start.
type proc struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// killGrace is how long a process gets between SIGTERM and SIGKILL.
const killGrace = 2 * time.Second

// Start starts name inside the namespace in the background. The process is
// sent SIGTERM when ctx is done or the lab is closed, and SIGKILL 2 s later.
// The lab waits for it: do not call Wait on the returned Cmd, use NS.Wait.
func (n *NS) Start(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	pctx, cancel := context.WithCancel(ctx)
	cmd := n.Command(pctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = killGrace
	n.lab.cfg.logf("lab: start: %s", cmdline(cmd))
	p := &proc{cmd: cmd, cancel: cancel, done: make(chan struct{})}
	if err := n.lab.addProc(p); err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		close(p.done)
		return nil, fmt.Errorf("lab: start %s: %w", cmdline(cmd), err)
	}
	go func() { p.err = cmd.Wait(); cancel(); close(p.done) }()
	return cmd, nil
}

// Wait blocks until a process started with Start has exited and returns
// its exit error (nil on success).
func (n *NS) Wait(cmd *exec.Cmd) error {
	p := n.lab.findProc(cmd)
	if p == nil {
		return errors.New("lab: Wait: command was not started by this lab")
	}
	<-p.done
	return p.err
}

func (l *Lab) addProc(p *proc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.track.isClosed() {
		return errors.New("lab: closed")
	}
	l.procs = append(l.procs, p)
	return nil
}

func (l *Lab) findProc(cmd *exec.Cmd) *proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		if p.cmd == cmd {
			return p
		}
	}
	return nil
}

// stopProcs signals every started process and waits (bounded) for it.
func (l *Lab) stopProcs() error {
	l.mu.Lock()
	procs := append([]*proc(nil), l.procs...)
	l.mu.Unlock()
	for _, p := range procs {
		p.cancel()
	}
	var errs []error
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(killGrace + 3*time.Second):
			errs = append(errs, fmt.Errorf("lab: %s did not exit", cmdline(p.cmd)))
		}
	}
	return errors.Join(errs...)
}

// Do runs fn on a goroutine locked to an OS thread that has entered this
// namespace. The thread is never unlocked, so the Go runtime discards it
// when fn returns. Sockets created inside fn belong to the namespace and
// may be used from any goroutine afterwards; goroutines started by fn run
// in the host namespace. A panic in fn is returned as an error.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		errc <- n.enter(fn)
	}()
	return <-errc
}

func (n *NS) enter(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("lab: panic in %s: %v", n.Name, r)
		}
	}()
	f, err := os.Open(n.Path())
	if err != nil {
		return fmt.Errorf("lab: open netns: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("lab: setns %s: %w", n.Name, err)
	}
	return fn()
}
