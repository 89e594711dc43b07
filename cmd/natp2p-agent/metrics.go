package main

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/natp2p/natp2p/agent"
	"github.com/natp2p/natp2p/report"
)

// execMetrics prints the metrics in the Prometheus text exposition format
// (docs/metrics.md): the daemon's, or a snapshot's without one.
func execMetrics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("metrics", stderr)
	c := &common{}
	c.register(fs, false)
	fs.StringVar(&c.from, "from", "", "the metrics of a snapshot `file` saved by natp2p-agent dump instead of this router")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.resolve(); err != nil {
		return err
	}
	page, err := fetchMetrics(ctx, c)
	if err != nil {
		return err
	}
	_, err = stdout.Write(page)
	return err
}

// fetchMetrics asks the daemon; without one it takes a snapshot.
func fetchMetrics(ctx context.Context, c *common) ([]byte, error) {
	var a *agent.Agent
	var err error
	if c.from != "" {
		a, err = fromFile(c)
	} else {
		var page []byte
		page, err = agent.QueryMetrics(ctx, c.cfg.Socket)
		if !errors.Is(err, agent.ErrNoDaemon) {
			return page, err
		}
		a, err = snapshot(ctx, c)
	}
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = a.Metrics(&b, report.SourceSnapshot)
	return b.Bytes(), err
}
