package httpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ContentType is the Prometheus text exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Defaults of Config's zero values.
const (
	DefaultPath         = "/metrics"
	DefaultMaxConns     = 4
	DefaultMaxHeader    = 4096
	DefaultReadTimeout  = 5 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// rejectTimeout bounds the 503 written to a connection over the cap, from
// the accept loop.
const rejectTimeout = 100 * time.Millisecond

// Config configures a Server.
type Config struct {
	// Body renders the resource for each GET and HEAD; required. It may
	// be called from MaxConns goroutines at once. An error answers 500.
	Body func(ctx context.Context) ([]byte, error)
	// Path is the one path served; if empty, DefaultPath. A query is
	// ignored.
	Path string
	// ContentType of the resource; if empty, ContentType.
	ContentType string
	// MaxConns is how many connections are served at once; one more is
	// answered 503 and closed. If zero, DefaultMaxConns.
	MaxConns int
	// MaxHeader caps the request head in bytes (431 past it); if zero,
	// DefaultMaxHeader.
	MaxHeader int
	// ReadTimeout is how long a client has, from accept, to send the
	// whole request head; WriteTimeout how long to take the response. If
	// zero, DefaultReadTimeout and DefaultWriteTimeout.
	ReadTimeout, WriteTimeout time.Duration
	// Logger logs refused requests at debug level; if nil, logs are
	// discarded.
	Logger *slog.Logger
	// Now is the clock for the Date header; if nil, time.Now.
	Now func() time.Time
}

// Server answers GET and HEAD of one path. Its methods are safe for
// concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	slots chan struct{}
	wg    sync.WaitGroup
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Body == nil {
		return nil, errors.New("httpd: Config.Body is required")
	}
	if cfg.MaxConns < 0 || cfg.MaxHeader < 0 || cfg.ReadTimeout < 0 || cfg.WriteTimeout < 0 {
		return nil, errors.New("httpd: negative limit in Config")
	}
	cfg.Path = or(cfg.Path, DefaultPath)
	cfg.ContentType = or(cfg.ContentType, ContentType)
	cfg.MaxConns = or(cfg.MaxConns, DefaultMaxConns)
	cfg.MaxHeader = or(cfg.MaxHeader, DefaultMaxHeader)
	cfg.ReadTimeout = or(cfg.ReadTimeout, DefaultReadTimeout)
	cfg.WriteTimeout = or(cfg.WriteTimeout, DefaultWriteTimeout)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{cfg: cfg, log: log.With("component", "httpd"), slots: make(chan struct{}, cfg.MaxConns)}, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// acceptBackoff is the first wait after a failed accept; it doubles up to
// a second.
const acceptBackoff = 10 * time.Millisecond

// Serve answers connections from ln until ctx is done, then closes ln
// and the connections still open, and returns nil once they are gone. It
// returns an error when ln fails for another reason.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer s.wg.Wait()
	backoff := acceptBackoff
	for {
		c, err := ln.Accept()
		switch {
		case err == nil:
			backoff = acceptBackoff
			s.dispatch(ctx, c)
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, net.ErrClosed):
			return fmt.Errorf("httpd: %w", err)
		default: // EMFILE and the like: wait, then accept again
			s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	}
}

// dispatch serves c in a goroutine of its own if a slot is free, and
// refuses it at once otherwise.
func (s *Server) dispatch(ctx context.Context, c net.Conn) {
	select {
	case s.slots <- struct{}{}:
	default:
		s.reject(c)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		s.ServeConn(ctx, c)
	}()
}

// reject answers 503 without reading the request, within rejectTimeout,
// and closes c.
func (s *Server) reject(c net.Conn) {
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(rejectTimeout))
	s.log.Debug("refused: too many connections", "max", s.cfg.MaxConns)
	_ = s.writeStatus(c, statusUnavailable, false)
}
