package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/metrics/textfile"
)

// Defaults of Config's zero values.
const (
	DefaultInterval = 5 * time.Minute
	DefaultTimeout  = 30 * time.Second
)

// DefaultDirs are where the page's file goes when Config.Dir is empty: the
// first on tmpfs (OpenWrt's /tmp is; elsewhere /dev/shm usually is).
var DefaultDirs = []string{"/tmp", "/dev/shm"}

// maxBackoff caps the growth of the wait after failures: 2^4 intervals.
const maxBackoff = 4

// Clients are the system clients a Pusher can use, in the order it looks
// for them: curl first, which reads the page on stdin, then those that
// need it in a file.
var Clients = []string{"curl", "uclient-fetch", "wget"}

// Config configures a Pusher.
type Config struct {
	// URL is the import endpoint, http:// or https://; required.
	URL string
	// Labels are added to every series (extra_label); the router's
	// identity, such as instance=<hostname>.
	Labels map[string]string
	// Body renders the page; required.
	Body func(ctx context.Context) ([]byte, error)
	// Interval between pushes; if zero, DefaultInterval. Timeout bounds
	// one push; if zero, DefaultTimeout.
	Interval, Timeout time.Duration
	// Client is one of Clients; if empty, the first found on PATH.
	Client string
	// Dir holds the page for uclient-fetch and wget, on tmpfs; if empty,
	// the first of DefaultDirs on tmpfs.
	Dir string
	// Logger; if nil, logs are discarded.
	Logger *slog.Logger
	// Run runs a client with stdin; if nil, os/exec. A test seam.
	Run func(ctx context.Context, name string, args []string, stdin io.Reader) error
	// LookPath finds a client; if nil, exec.LookPath. A test seam.
	LookPath func(string) (string, error)
}

// Pusher pushes the page on an interval. It is not safe for concurrent
// use.
type Pusher struct {
	cfg    Config
	log    *slog.Logger
	client string // the client's path
	target string // URL with the labels
}

// New checks cfg, finds the client and fills in the defaults.
func New(cfg Config) (*Pusher, error) {
	if !validURL(cfg.URL) {
		return nil, fmt.Errorf("push: %q is not an http:// or https:// URL", cfg.URL)
	}
	if cfg.Body == nil {
		return nil, errors.New("push: Config.Body is required")
	}
	cfg.Interval = or(cfg.Interval, DefaultInterval)
	cfg.Timeout = or(cfg.Timeout, DefaultTimeout)
	if cfg.Run == nil {
		cfg.Run = run
	}
	if cfg.LookPath == nil {
		cfg.LookPath = exec.LookPath
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := &Pusher{cfg: cfg, log: log.With("component", "push"), target: withLabels(cfg.URL, cfg.Labels)}
	var err error
	if p.client, err = p.findClient(); err != nil {
		return nil, err
	}
	return p, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// CheckURL returns an error unless u is an http:// or https:// URL that
// New accepts.
func CheckURL(u string) error {
	if !validURL(u) {
		return fmt.Errorf("%q is not an http:// or https:// URL", u)
	}
	return nil
}

// validURL accepts http:// and https:// URLs with a host and no
// whitespace or control characters. (By hand: net/url costs the router's
// binary 23 KB.)
func validURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "https://")
	}
	if !ok || rest == "" || rest[0] == '/' || strings.Contains(u, "#") {
		return false
	}
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] >= 0x7f {
			return false
		}
	}
	return true
}

// withLabels adds an extra_label argument per label, in name order.
func withLabels(u string, labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sep := "&"
		if !strings.Contains(u, "?") {
			sep = "?"
		}
		u += sep + "extra_label=" + queryEscape(n+"="+labels[n])
	}
	return u
}

// queryEscape percent-encodes all but RFC 3986's unreserved characters.
func queryEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + string(hex[c>>4]) + string(hex[c&15]))
	}
	return b.String()
}

// findClient returns the path of Config.Client, or of the first of
// Clients on PATH.
func (p *Pusher) findClient() (string, error) {
	names := Clients
	if p.cfg.Client != "" {
		names = []string{p.cfg.Client}
	}
	for _, n := range names {
		if path, err := p.cfg.LookPath(n); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("push: none of %s found on PATH", strings.Join(names, ", "))
}

// Run pushes until ctx is done: first after a random part of the
// interval, then on the interval, backing off after failures.
func (p *Pusher) Run(ctx context.Context) {
	wait := time.Duration(rand.Int64N(int64(p.cfg.Interval)))
	for failures := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := p.Push(ctx); err != nil {
			failures++
			p.log.Warn("push failed", "url", p.cfg.URL, "failures", failures, "err", err)
		} else {
			failures = 0
		}
		wait = Next(p.cfg.Interval, failures, rand.Float64())
	}
}

// Next is the wait after a push, given the failures in a row and a
// random r in [0, 1): the interval, times 2^failures up to 2^4, ±20%.
func Next(interval time.Duration, failures int, r float64) time.Duration {
	d := interval << min(failures, maxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*r))
}

// Push renders the page and hands it to the client once.
func (p *Pusher) Push(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	page, err := p.cfg.Body(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	name, secs := filepath.Base(p.client), strconv.Itoa(int(p.cfg.Timeout.Seconds()))
	if name == "curl" {
		args := []string{"-fsS", "--max-time", secs, "-H", "Content-Type: text/plain", "--data-binary", "@-", p.target}
		return p.run(ctx, args, bytes.NewReader(page))
	}
	file, err := p.writePage(page)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer os.Remove(file)
	args := []string{"-q", "-O", "/dev/null", "--post-file=" + file, p.target}
	if name == "uclient-fetch" {
		// wget's timeout flag differs between GNU and BusyBox (which may
		// lack it): the context's deadline kills it instead.
		args = append([]string{"-T", secs}, args...)
	}
	return p.run(ctx, args, nil)
}

// writePage puts the page in a file on tmpfs, in Config.Dir or the first
// of DefaultDirs that is on tmpfs, and returns its path.
func (p *Pusher) writePage(page []byte) (string, error) {
	const name = "natp2p-push.prom"
	dirs := DefaultDirs
	if p.cfg.Dir != "" {
		dirs = []string{p.cfg.Dir}
	}
	var errs []error
	for _, dir := range dirs {
		err := textfile.Write(dir, name, page, false)
		if err == nil {
			return filepath.Join(dir, name), nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

func (p *Pusher) run(ctx context.Context, args []string, stdin io.Reader) error {
	if err := p.cfg.Run(ctx, p.client, args, stdin); err != nil {
		return fmt.Errorf("push: %s: %w", filepath.Base(p.client), err)
	}
	return nil
}

// run runs a client; its stderr, cut short, goes into the error.
func run(ctx context.Context, name string, args []string, stdin io.Reader) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var stderr strings.Builder
	cmd.Stderr = &limited{w: &stderr, n: 512}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// limited writes its first n bytes to w and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(b []byte) (int, error) {
	if k := min(len(b), l.n); k > 0 {
		l.w.Write(b[:k])
		l.n -= k
	}
	return len(b), nil
}
