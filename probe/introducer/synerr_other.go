//go:build !linux

package introducer

import "golang.org/x/sys/unix"

// recvErrors and queuedICMP: see synerr_linux.go; the introducer serves on
// Linux only.
func recvErrors(int, bool) error { return nil }

func queuedICMP(int) unix.Errno { return 0 }
