package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/report"
)

// The control protocol: one JSON request line, one JSON response, close.
type request struct {
	Cmd string `json:"cmd"` // "report" or "mappings"
}

type response struct {
	Error    string                 `json:"error,omitempty"`
	Report   *report.Report         `json:"report,omitempty"`
	Mappings []conntrackmap.Mapping `json:"mappings,omitempty"`
}

const controlTimeout = 5 * time.Second

// listen opens the control socket: root-only (directory 0700, socket
// 0600), replacing a stale socket but never a live agent's.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w (control socket %s answers)", errAlreadyRunning, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("control socket: remove stale %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// serve answers control requests until ctx is done, then removes the
// socket. It returns once every request it took is answered or, when ctx
// is done, dropped.
func (a *Agent) serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var handlers group
	defer handlers.Wait()
	backoff := acceptBackoff
	for {
		c, err := ln.Accept()
		switch {
		case err == nil:
			backoff = acceptBackoff
			handlers.Go(func() { a.handle(ctx, c) })
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, net.ErrClosed):
			return fmt.Errorf("control socket: %w", err)
		default: // EMFILE and the like: wait, then serve again
			a.log.Warn("control socket accept failed; retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
		}
	}
}

// acceptBackoff is the first wait after a failed accept.
const acceptBackoff = 10 * time.Millisecond

// handle answers one request, unless ctx is done first.
func (a *Agent) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(controlTimeout))
	var req request
	var resp response
	if err := peerIsRoot(c); err != nil {
		resp.Error = err.Error()
	} else if err := json.NewDecoder(bufio.NewReader(c)).Decode(&req); err != nil {
		resp.Error = "bad request: " + err.Error()
	} else {
		resp = a.answer(req)
	}
	if err := json.NewEncoder(c).Encode(resp); err != nil {
		a.log.Debug("control reply failed", "err", err)
	}
}

func (a *Agent) answer(req request) response {
	switch req.Cmd {
	case "report":
		r := a.Report(report.SourceDaemon)
		return response{Report: &r}
	case "mappings":
		m := a.table.Mappings()
		if m == nil {
			m = []conntrackmap.Mapping{}
		}
		return response{Mappings: m}
	}
	return response{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
}

// Query asks the agent on socket for a report or the mappings. It returns
// ErrNoDaemon when nothing listens there.
func Query(ctx context.Context, socket, cmd string) (*report.Report, []conntrackmap.Mapping, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, nil, fmt.Errorf("%w (no control socket at %s)", ErrNoDaemon, socket)
	case err != nil:
		return nil, nil, fmt.Errorf("control socket %s: %w", socket, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * controlTimeout))
	if err := json.NewEncoder(c).Encode(request{Cmd: cmd}); err != nil {
		return nil, nil, fmt.Errorf("control socket %s: %w", socket, err)
	}
	var resp response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, nil, fmt.Errorf("control socket %s: bad reply: %w", socket, err)
	}
	if resp.Error != "" {
		return nil, nil, fmt.Errorf("natp2p-agent: %s", resp.Error)
	}
	return resp.Report, resp.Mappings, nil
}
