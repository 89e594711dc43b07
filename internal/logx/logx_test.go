package logx

import (
	"context"
	"log/slog"
	"testing"
)

func TestDiscard(t *testing.T) {
	l := Discard().With("k", "v").WithGroup("g")
	if l.Enabled(context.Background(), slog.LevelError) {
		t.Error("Discard is enabled for errors")
	}
	l.Error("dropped") // must not panic
}
