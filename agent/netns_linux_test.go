//go:build linux

package agent

import (
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOwnNetns: the router's namespace handle names the agent's namespace
// while threads come and go (a goroutine that exits locked ends its
// thread): a thread id read on one thread and opened on another would
// name a thread that may be gone.
func TestOwnNetns(t *testing.T) {
	// Not /proc/self: the main thread of a test binary may sit in a lab
	// namespace; unlocked goroutines run in the agent's.
	var want unix.Stat_t
	runtime.LockOSThread()
	err := unix.Stat(threadNetns, &want)
	runtime.UnlockOSThread()
	if err != nil {
		t.Skip(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); runtime.LockOSThread() }() // ends its thread
		f, err := ownNetns()
		if err != nil {
			t.Fatal(err)
		}
		var got unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &got)
		f.Close()
		if err != nil || got.Ino != want.Ino {
			t.Fatalf("handle %d, %v; want the agent's namespace %d", got.Ino, err, want.Ino)
		}
	}
	wg.Wait()
}
