package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
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
	Cmd string `json:"cmd"` // "report", "mappings" or "metrics"
}

type response struct {
	Error    string                 `json:"error,omitempty"`
	Report   *report.Report         `json:"report,omitempty"`
	Mappings []conntrackmap.Mapping `json:"mappings,omitempty"`
	Metrics  string                 `json:"metrics,omitempty"` // the Prometheus text exposition
}

const controlTimeout = 5 * time.Second

// listen opens the control socket: root-only (directory 0700, socket
// 0600), replacing a stale socket but never a live agent's, nor anything
// at the path that is not a socket.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w (control socket %s answers)", errAlreadyRunning, path)
	}
	if err := removeStale(path); err != nil {
		return nil, err
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

// removeStale removes a socket nothing answers on at path. Anything else
// there (a file, a directory, a link) stays, and is an error: a mistyped
// --socket must not delete a file.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("control socket: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("control socket: %s exists and is not a socket (%s); refusing to replace it (choose another path: --socket, UCI socket)", path, fileKind(fi.Mode()))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket: remove stale %s: %w", path, err)
	}
	return nil
}

// fileKind names a file's type for an error message.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a " + m.Type().String() + " file"
}

// The control socket's bounds: a local, root-only client sends one short
// line at once, so anything more is a mistake or an attack, and must not
// take the daemon's memory or file descriptors.
const (
	// maxControlConns bounds the requests answered at once; a connection
	// beyond them gets errBusy's line and is closed at once.
	maxControlConns = 8
	// maxRequest bounds a request line, in bytes.
	maxRequest = 4 << 10
	// requestTimeout bounds the wait for the request line; controlTimeout
	// the whole exchange, reply included.
	requestTimeout = time.Second
	// refuseTimeout bounds the write of the busy reply.
	refuseTimeout = 100 * time.Millisecond
)

// errBusy is the reply to a connection beyond maxControlConns.
var errBusy = fmt.Sprintf("busy: %d control requests in progress; try again", maxControlConns)

// serve answers control requests until ctx is done, then removes the
// socket, at most maxControlConns at once. It returns once every request
// it took is answered or, when ctx is done, dropped.
func (a *Agent) serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var handlers group
	defer handlers.Wait()
	slots := make(chan struct{}, maxControlConns)
	var failed acceptFailures
	for {
		c, err := ln.Accept()
		switch {
		case err == nil:
			failed.retry.reset()
			select {
			case slots <- struct{}{}:
				handlers.Go(func() { defer func() { <-slots }(); a.handle(ctx, c) })
			default:
				a.refuse(c)
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, net.ErrClosed):
			return fmt.Errorf("control socket: %w", err)
		default: // EMFILE and the like: wait, then serve again
			failed.note(a.log, err)
			time.Sleep(failed.retry.next())
		}
	}
}

// acceptFailures paces the accept loop after failures (EMFILE and the
// like), waits doubling from 10 ms to 1 s, and logs them at most every
// acceptLogEvery.
type acceptFailures struct {
	retry  backoff
	n      int // since the last line
	logged time.Time
}

// acceptLogEvery is the least time between two lines on failed accepts.
const acceptLogEvery = 10 * time.Second

func (f *acceptFailures) note(log *slog.Logger, err error) {
	f.retry.min, f.retry.max = 10*time.Millisecond, time.Second
	if f.n++; time.Since(f.logged) >= acceptLogEvery {
		log.Warn("control socket accept failed; retrying", "err", err, "failures", f.n)
		f.n, f.logged = 0, time.Now()
	}
}

// refuse answers errBusy, if the socket takes it at once, and closes c.
func (a *Agent) refuse(c net.Conn) {
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(refuseTimeout))
	json.NewEncoder(c).Encode(response{Error: errBusy})
}

// handle answers one request, unless ctx is done first.
func (a *Agent) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	start := time.Now()
	c.SetDeadline(start.Add(controlTimeout))
	c.SetReadDeadline(start.Add(requestTimeout))
	var resp response
	if err := peerIsRoot(c); err != nil {
		resp.Error = err.Error()
	} else if req, err := readRequest(c); err != nil {
		resp.Error = err.Error()
	} else {
		resp = a.answer(req)
	}
	if err := json.NewEncoder(c).Encode(resp); err != nil {
		a.log.Debug("control reply failed", "err", err)
	}
}

// readRequest reads one request of at most maxRequest bytes.
func readRequest(r io.Reader) (request, error) {
	var req request
	lr := &io.LimitedReader{R: r, N: maxRequest}
	err := json.NewDecoder(lr).Decode(&req)
	switch {
	case err != nil && lr.N == 0:
		return req, fmt.Errorf("bad request: longer than %d bytes", maxRequest)
	case err != nil:
		return req, fmt.Errorf("bad request: %w", err)
	}
	return req, nil
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
	case "metrics":
		page, err := a.metricsPage(context.Background())
		if err != nil {
			return response{Error: err.Error()}
		}
		return response{Metrics: string(page)}
	}
	return response{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
}

// Query asks the agent on socket for a report or the mappings. It returns
// ErrNoDaemon when nothing listens there.
func Query(ctx context.Context, socket, cmd string) (*report.Report, []conntrackmap.Mapping, error) {
	resp, err := query(ctx, socket, cmd)
	return resp.Report, resp.Mappings, err
}

// QueryMetrics asks the agent on socket for its metrics, in the Prometheus
// text exposition format. It returns ErrNoDaemon when nothing listens
// there.
func QueryMetrics(ctx context.Context, socket string) ([]byte, error) {
	resp, err := query(ctx, socket, "metrics")
	return []byte(resp.Metrics), err
}

func query(ctx context.Context, socket, cmd string) (response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return response{}, fmt.Errorf("%w (no control socket at %s)", ErrNoDaemon, socket)
	case err != nil:
		return response{}, fmt.Errorf("control socket %s: %w", socket, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * controlTimeout))
	if err := json.NewEncoder(c).Encode(request{Cmd: cmd}); err != nil {
		return response{}, fmt.Errorf("control socket %s: %w", socket, err)
	}
	var resp response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return response{}, fmt.Errorf("control socket %s: bad reply: %w", socket, err)
	}
	if resp.Error != "" {
		return response{}, fmt.Errorf("natp2p-agent: %s", resp.Error)
	}
	return resp, nil
}
