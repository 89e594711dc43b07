package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/report"
)

// DefaultReadBuffer is the event socket's receive buffer when
// SourceConfig.ReadBuffer is zero: room for about 20,000 events, a burst of
// new flows the agent absorbs without a resync.
const DefaultReadBuffer = 8 << 20

// SourceConfig configures a Source.
type SourceConfig struct {
	// ReadBuffer is the event socket's receive buffer in bytes. If zero,
	// DefaultReadBuffer. As root it may exceed net.core.rmem_max.
	ReadBuffer int
	// Filter selects the flows to model.
	Filter Filter
	// Logger receives overflow and resync notices. If nil, logs are discarded.
	Logger *slog.Logger
	// OnEvents, if non-nil, receives each batch of events after the table
	// applied it; OnFill is called after each dump filled the table. The
	// enforcer pins new flows from them.
	OnEvents func([]conntrackmap.Event)
	OnFill   func()
	// Updates also follows conntrack's UPDATE events of replied flows:
	// enforce mode learns from them which pins' flows get replies.
	Updates bool
}

// Source follows the kernel's conntrack table into a conntrackmap.Table.
type Source struct {
	cfg SourceConfig
	log *slog.Logger

	// Atomics, read by Stats while Run writes them.
	events, resyncs, overflows atomic.Uint64

	resync chan struct{} // asks Run for a resync from a dump
	// sleep waits between sessions after a failure (see loop): the
	// package's sleep, or a recorder in tests.
	sleep func(ctx context.Context, d time.Duration) bool
}

// NewSource returns a Source; it opens nothing until Dump or Run.
func NewSource(cfg SourceConfig) *Source {
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	log := cfg.Logger
	if log == nil {
		log = logx.Discard()
	}
	return &Source{cfg: cfg, log: log.With("component", "conntrack"), resync: make(chan struct{}, 1), sleep: sleep}
}

// Resync asks Run to replace the table with a fresh dump, as when the WAN
// addresses change and the filter keeps other flows. It does not block.
func (s *Source) Resync() {
	select {
	case s.resync <- struct{}{}:
	default: // one is pending already
	}
}

// Stats reports the events applied, resyncs and overflows so far. It is
// safe to call while Run runs.
func (s *Source) Stats() report.SourceStats {
	return report.SourceStats{Events: s.events.Load(), Resyncs: s.resyncs.Load(), Overflows: s.overflows.Load()}
}

// Why a session of Run ends without failing: the next starts at once.
var (
	// errResync: a resync was requested.
	errResync = errors.New("resync requested")
	// errOverflow: the kernel dropped events (ENOBUFS on the event socket).
	errOverflow = errors.New("conntrack events overflowed the receive buffer")
)

// The waits before the next session after a transient failure.
const (
	sourceRetry    = 100 * time.Millisecond
	sourceRetryMax = 10 * time.Second
)

// loop runs session until ctx is done or it fails for good, and returns
// that failure (nil when ctx is done). A session fills the table from a
// dump and follows events; filled reports whether its dump got into the
// table, and first whether none had before. A requested resync or an
// overflow starts the next session at once; a transient failure (EMFILE,
// ENOBUFS, an interrupted dump: see transient) after a backoff, the table
// kept as it is meanwhile; anything else ends the loop.
func (s *Source) loop(ctx context.Context, session func(first bool) (filled bool, err error)) error {
	retry := backoff{min: sourceRetry, max: sourceRetryMax}
	for first := true; ; {
		filled, err := session(first)
		if filled {
			first = false
			retry.reset()
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errResync):
			s.log.Info("resyncing from a dump on request")
		case errors.Is(err, errOverflow):
			s.overflows.Add(1)
			s.log.Warn("conntrack events overflowed the receive buffer; resyncing from a dump",
				"read_buffer", s.cfg.ReadBuffer, "overflows", s.overflows.Load())
		case transient(err):
			d := retry.next()
			s.log.Warn("conntrack failed for now; keeping the table, retrying", "err", err, "in", d)
			if !s.sleep(ctx, d) {
				return nil
			}
		default:
			return err
		}
	}
}
