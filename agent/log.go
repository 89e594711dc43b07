package agent

import (
	"context"
	"log/slog"
)

// discard is a slog.Handler that drops everything (slog.DiscardHandler is
// Go 1.24).
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }

func nopLogger() *slog.Logger { return slog.New(discard{}) }
