package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/metrics"
	"github.com/natp2p/natp2p/report"
)

// ReadReport reads a report saved by `natp2p-agent report --json`.
func ReadReport(path string) (*report.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	// Only the schema is checked: report.Validate would cost the router's
	// binary 6 KB for a flag of test fleets.
	var r report.Report
	if err = json.Unmarshal(data, &r); err == nil && r.Schema != report.Schema {
		err = fmt.Errorf("schema %q", r.Schema)
	}
	if err != nil {
		return nil, fmt.Errorf("replay %s: not a %s document (natp2p-agent report --json): %w", path, report.Schema, err)
	}
	return &r, nil
}

// Replay returns a daemon that serves the saved report r, as it is, on
// its control socket and metrics outputs instead of watching a router: no
// conntrack, no netlink, no root. Many of them stand for a fleet of
// varied routers in simulations and demos. Only cfg's Socket, Logger,
// Version, DeviceRoot and Metrics settings are used.
func Replay(r *report.Report, cfg Config) *Agent {
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.Logger == nil {
		cfg.Logger = logx.Discard()
	}
	wan := report.Interface{}
	if len(r.WAN) > 0 {
		wan = r.WAN[0]
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, host: r.Host, lan: r.LAN, replay: r, hooks: kernelHooks(),
		table: conntrackmap.New(conntrackmap.Config{}), device: metrics.ReadDevice(cfg.DeviceRoot)}
	a.wan.Store(&wan)
	return a
}

// runReplay is Run for a replaying agent: the control socket (and the
// metrics outputs) only.
func (a *Agent) runReplay(ctx context.Context, ready chan<- struct{}) error {
	ln, out, err := a.openOutputs()
	if err != nil {
		return err
	}
	l := newLifecycle(ctx)
	a.startMetrics(l, out)
	l.Go(phaseControl, func(ctx context.Context) error {
		defer l.Stop()
		return a.serve(ctx, ln)
	})
	if ready != nil {
		close(ready)
	}
	return l.Wait()
}
