package agent

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpErrorIs(t *testing.T) {
	tests := []struct {
		errno      error
		permission bool
		noCT       bool
	}{
		{unix.EPERM, true, false},
		{unix.EACCES, true, false},
		{unix.EPROTONOSUPPORT, false, true},
		{unix.ENOENT, false, true},
		{unix.EOPNOTSUPP, false, true},
		{unix.ENOBUFS, false, false},
	}
	for _, tt := range tests {
		err := fmt.Errorf("wrapped: %w", opError("dump", fmt.Errorf("netlink receive: %w", tt.errno)))
		if got := errors.Is(err, os.ErrPermission); got != tt.permission {
			t.Errorf("%v: Is(ErrPermission) = %v, want %v", tt.errno, got, tt.permission)
		}
		if got := errors.Is(err, ErrNoConntrack); got != tt.noCT {
			t.Errorf("%v: Is(ErrNoConntrack) = %v, want %v", tt.errno, got, tt.noCT)
		}
	}
	if opError("dump", nil) != nil {
		t.Error("opError(nil) is not nil")
	}
}
