// Package logx holds the slog helpers the packages and daemons share:
// Discard for a nil logger, and New, the daemons' logger, which under
// procd writes to logd's /dev/log through SyslogHandler so that logread
// shows each line at its level with one timestamp.
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
