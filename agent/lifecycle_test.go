package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLifecycleStopsPhasesInOrder: each phase's context is done only once
// every goroutine of the phases before it returned, whatever order they
// started in.
func TestLifecycleStopsPhasesInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := newLifecycle(ctx)
	c := &calls{}
	for _, p := range []phase{phaseControl, phaseProbe, phaseEnforce, phaseFeed} {
		for range 2 {
			l.Go(p, func(ctx context.Context) error {
				<-ctx.Done()
				c.add(fmt.Sprintf("phase %d done", p))
				return nil
			})
		}
	}
	cancel()
	if err := l.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	want := []string{"phase 0 done", "phase 0 done", "phase 1 done", "phase 1 done",
		"phase 2 done", "phase 2 done", "phase 3 done", "phase 3 done"}
	if diff := cmp.Diff(want, c.list()); diff != "" {
		t.Errorf("stop order (-want +got):\n%s", diff)
	}
}

func TestLifecycleFirstErrorStops(t *testing.T) {
	l := newLifecycle(context.Background())
	first, second := errors.New("first"), errors.New("second")
	c := &calls{}
	l.Go(phaseControl, func(ctx context.Context) error {
		<-ctx.Done()
		c.add("control stopped")
		return second
	})
	l.Go(phaseEnforce, func(ctx context.Context) error {
		<-ctx.Done()
		c.add("enforce stopped")
		return nil
	})
	l.Go(phaseFeed, func(context.Context) error { return first })
	if err := l.Wait(); !errors.Is(err, first) {
		t.Errorf("Wait = %v, want the first error %v", err, first)
	}
	if diff := cmp.Diff([]string{"enforce stopped", "control stopped"}, c.list()); diff != "" {
		t.Errorf("stop order (-want +got):\n%s", diff)
	}
}

func TestLifecycleStop(t *testing.T) {
	l := newLifecycle(context.Background())
	l.Go(phaseFeed, func(context.Context) error { l.Stop(); return nil })
	stopped := false
	l.Go(phaseProbe, func(ctx context.Context) error { <-ctx.Done(); stopped = true; return nil })
	if err := l.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	if !stopped {
		t.Error("Wait returned before a goroutine did")
	}
}
