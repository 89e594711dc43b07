// Package logx holds the one slog helper the packages share.
package logx

import (
	"context"
	"log/slog"
)

// Discard returns a logger that drops everything: what a nil *slog.Logger
// in a Config means. (slog.DiscardHandler needs Go 1.24.)
func Discard() *slog.Logger { return slog.New(discard{}) }

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
