//go:build linux

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/internal/fleetsim"
)

// Fleet bench parameters: how often Prometheus scrapes, how long the
// agents' idle CPU is measured before, and the push interval (the
// agent's shortest).
const (
	fleetScrapeInterval = 10 * time.Second
	fleetIdleWindow     = 15 * time.Second
	fleetPushInterval   = time.Minute
)

// fleetConfig is what bench-fleet measures with.
type fleetConfig struct {
	agent, prometheus, victoria, rules string
	window                             time.Duration // scraped for this long; pushes for two intervals and this
}

// benchFleet runs simulated fleets of each size (replaying natp2p-agent
// daemons, internal/fleetsim): one scraped by Prometheus with the shipped
// rules, then one pushing into victoria-metrics, and prints what a router
// costs each side.
func benchFleet(ctx context.Context, w io.Writer, cfg fleetConfig, sizes []int) error {
	max := 0
	for _, n := range sizes {
		max = maxInt(max, n)
	}
	routers, err := fleetsim.Generate(max, 1, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "fleet: simulated routers (natp2p-agent run --replay), Prometheus scraping every %v for %v, pushes every %v into victoria-metrics\n\n",
		fleetScrapeInterval, cfg.window, fleetPushInterval)
	var scrapes []scrapeFigures
	var pushes []pushFigures
	for _, n := range sizes {
		s, err := scrapeRun(ctx, cfg, routers[:n])
		if err != nil {
			return fmt.Errorf("%d routers, scraped: %w", n, err)
		}
		p, err := pushRun(ctx, cfg, routers[:n], s.idleCPU)
		if err != nil {
			return fmt.Errorf("%d routers, pushing: %w", n, err)
		}
		scrapes, pushes = append(scrapes, s), append(pushes, p)
	}
	printFleet(w, scrapes, pushes)
	return nil
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// scrapeFigures is what one scraped fleet measured.
type scrapeFigures struct {
	routers          int
	series           float64       // samples per scrape, per router
	page, pageGzip   float64       // bytes per scrape, as served and gzip'd
	agentRSS         float64       // bytes per agent
	idleCPU          time.Duration // one agent's CPU per second, unscraped
	cpuPerScrape     time.Duration
	promRSS, promDir int64 // Prometheus' resident memory and data directory
	samples          float64
	promCPUPerSample time.Duration // Prometheus' CPU per sample scraped and recorded in the window
}

// scrapeRun starts the fleet, measures its idle CPU, then has Prometheus
// scrape it for the window.
func scrapeRun(ctx context.Context, cfg fleetConfig, routers []fleetsim.Router) (scrapeFigures, error) {
	fig := scrapeFigures{routers: len(routers)}
	dir, err := os.MkdirTemp("", "natp2p-bench-fleet-")
	if err != nil {
		return fig, err
	}
	defer os.RemoveAll(dir)
	f, err := fleetsim.StartFleet(fleetsim.FleetConfig{Agent: cfg.agent, Dir: filepath.Join(dir, "routers"), Routers: routers, Listen: true})
	if err != nil {
		return fig, err
	}
	defer f.Close()
	if err := f.WaitServing(ctx); err != nil {
		return fig, err
	}
	if fig.page, fig.pageGzip, err = pageSizes(f.Targets()); err != nil {
		return fig, err
	}
	idle, err := measureCPU(ctx, f, fleetIdleWindow)
	if err != nil {
		return fig, err
	}
	fig.idleCPU = idle / time.Duration(len(routers)) / time.Duration(fleetIdleWindow/time.Second)
	prom, err := fleetsim.StartPrometheus(cfg.prometheus, filepath.Join(dir, "prometheus"), f.Targets(), cfg.rules, fleetScrapeInterval)
	if err != nil {
		return fig, err
	}
	defer prom.Close()
	if err := waitUp(ctx, prom.URL, len(routers)); err != nil {
		return fig, err
	}
	return fig, scrapeWindow(ctx, cfg, f, prom, &fig)
}

// scrapeWindow measures the fleet's CPU and counts Prometheus' scrapes
// over the window, then reads Prometheus' own figures.
func scrapeWindow(ctx context.Context, cfg fleetConfig, f *fleetsim.Fleet, prom *fleetsim.Server, fig *scrapeFigures) error {
	p0, err := prom.Usage()
	if err != nil {
		return err
	}
	s0, err := selfMetric(prom.URL, "prometheus_tsdb_head_samples_appended_total")
	if err != nil {
		return err
	}
	used, err := measureCPU(ctx, f, cfg.window)
	if err != nil {
		return err
	}
	// Prometheus' up series has one sample per scrape: those of the window.
	scrapes, err := fleetsim.QueryValue(ctx, prom.URL, fmt.Sprintf(`sum(count_over_time(up{job="natp2p"}[%ds]))`, int(cfg.window/time.Second)))
	if err != nil {
		return err
	}
	idle := fig.idleCPU * time.Duration(fig.routers) * time.Duration(cfg.window/time.Second)
	fig.cpuPerScrape = (used - idle) / time.Duration(scrapes)
	if fig.series, err = fleetsim.QueryValue(ctx, prom.URL, `avg(scrape_samples_scraped{job="natp2p"})`); err != nil {
		return err
	}
	if fig.samples, err = selfMetric(prom.URL, "prometheus_tsdb_head_samples_appended_total"); err != nil {
		return err
	}
	u, err := prom.Usage()
	if err != nil {
		return err
	}
	fig.promCPUPerSample = u.Sub(p0).CPU / time.Duration(fig.samples-s0)
	a, err := f.Usage()
	fig.promRSS, fig.promDir, fig.agentRSS = u.RSS, prom.DiskUsage(), float64(a.RSS)/float64(fig.routers)
	return err
}

// measureCPU returns the fleet's CPU time (its own and its push clients')
// over a window.
func measureCPU(ctx context.Context, f *fleetsim.Fleet, window time.Duration) (time.Duration, error) {
	u0, err := f.Usage()
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(window):
	}
	u1, err := f.Usage()
	d := u1.Sub(u0)
	return d.CPU + d.Children, err
}

// pageSizes fetches every router's page once and returns the mean size,
// as served and gzip'd.
func pageSizes(targets []string) (plain, gz float64, err error) {
	var n, z int
	for _, t := range targets {
		resp, err := http.Get("http://" + t + "/metrics")
		if err != nil {
			return 0, 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, 0, err
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		n, z = n+len(body), z+b.Len()
	}
	return float64(n) / float64(len(targets)), float64(z) / float64(len(targets)), nil
}

// waitUp waits (at most a minute) until Prometheus has scraped n targets
// successfully.
func waitUp(ctx context.Context, prom string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		v, err := fleetsim.QueryValue(ctx, prom, `count(up{job="natp2p"} == 1)`)
		if err == nil && int(v) == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v of %d targets up: %v", v, n, err)
		case <-time.After(time.Second):
		}
	}
}

// selfMetric sums a metric's samples on a server's own /metrics page.
func selfMetric(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q", name, line)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("%s/metrics has no %s", base, name)
	}
	return sum, sc.Err()
}

// parseSizes parses bench-fleet's --routers.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--routers: %q is not a fleet size", f)
		}
		out = append(out, n)
	}
	return out, nil
}
