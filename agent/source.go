package agent

import (
	"log/slog"
	"sync/atomic"

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
	return &Source{cfg: cfg, log: log.With("component", "conntrack"), resync: make(chan struct{}, 1)}
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
