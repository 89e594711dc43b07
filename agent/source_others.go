//go:build !linux

package agent

import (
	"context"
	"log/slog"

	"github.com/natp2p/natp2p/conntrackmap"
)

// Dump is only available on Linux.
func (s *Source) Dump(context.Context) ([]conntrackmap.Flow, error) { return nil, ErrUnsupported }

func (s *Source) dump(context.Context, func(conntrackmap.Flow)) error { return ErrUnsupported }

// Run is only available on Linux.
func (s *Source) Run(context.Context, *conntrackmap.Table, chan<- struct{}) error {
	return ErrUnsupported
}

func watchAddrs(context.Context, *slog.Logger, func()) error { return ErrUnsupported }
