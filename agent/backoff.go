package agent

import (
	"context"
	"errors"
	"syscall"
	"time"
)

// backoff is a wait that doubles after each failure, from min to max.
type backoff struct {
	min, max time.Duration
	cur      time.Duration // the last wait; zero before the first failure
}

// next returns the wait after one more failure.
func (b *backoff) next() time.Duration {
	b.cur = min(max(2*b.cur, b.min), b.max)
	return b.cur
}

// reset starts over from min, after a success.
func (b *backoff) reset() { b.cur = 0 }

// sleep waits d, or less when ctx is done first; it reports whether the
// whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// transient reports whether err is the kernel running short of something
// for a while (file descriptors, buffer space, memory) or a call cut short,
// rather than an answer: retry later, and change nothing meanwhile.
func transient(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.EINTR, syscall.EAGAIN, syscall.EBUSY} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return errors.Is(err, errDumpInterrupted)
}
