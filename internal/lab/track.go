//go:build linux

package lab

import (
	"errors"
	"io"
	"net"
	"sync"
)

// errClosed is returned when something is added to a closed lab.
var errClosed = errors.New("lab: lab is closed")

// tracker holds the sockets a lab must close on Close.
type tracker struct {
	mu     sync.Mutex
	closed bool
	set    map[io.Closer]struct{}
}

// add registers c. If the lab is already closed, c is closed at once and
// errClosed returned.
func (t *tracker) add(c io.Closer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return errClosed
	}
	if t.set == nil {
		t.set = make(map[io.Closer]struct{})
	}
	t.set[c] = struct{}{}
	return nil
}

func (t *tracker) remove(c io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.set, c)
}

func (t *tracker) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// closeAll marks the tracker closed and closes everything it holds.
func (t *tracker) closeAll() error {
	t.mu.Lock()
	t.closed = true
	set := t.set
	t.set = nil
	t.mu.Unlock()
	var errs []error
	for c := range set {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
