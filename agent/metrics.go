package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/httpd"
	"github.com/natp2p/natp2p/metrics"
	"github.com/natp2p/natp2p/metrics/textfile"
	"github.com/natp2p/natp2p/report"
)

// textfileEvery is how often the daemon rewrites Config.MetricsTextfile.
const textfileEvery = time.Minute

// Metrics writes the agent's report as Prometheus metrics (docs/metrics.md),
// with the table's counts and, from a daemon, its probe counters.
func (a *Agent) Metrics(w io.Writer, source string) error {
	r, s := a.report(source)
	in := metrics.Input{Report: &r, Table: &s, Device: a.device,
		Build: metrics.BuildInfo{Version: a.cfg.Version, GoVersion: runtime.Version()}}
	if source == report.SourceDaemon {
		in.Probes = a.prober.counters()
	}
	return metrics.Write(w, in)
}

// metricsPage renders the daemon's metrics, for the HTTP responder and
// the textfile.
func (a *Agent) metricsPage(context.Context) ([]byte, error) {
	var b bytes.Buffer
	err := a.Metrics(&b, report.SourceDaemon)
	return b.Bytes(), err
}

// listenMetrics opens Config.MetricsListen; nil when it is empty.
func (a *Agent) listenMetrics() (net.Listener, error) {
	if a.cfg.MetricsListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return ln, nil
}

// startMetrics serves /metrics on ln, if any, and rewrites the textfile,
// if one is configured, in the control phase: metrics are out until the
// end. The textfile goes when the daemon stops, so that a router whose
// natp2p is stopped on purpose does not look silent.
func (a *Agent) startMetrics(l *lifecycle, ln net.Listener) {
	if ln != nil {
		srv, err := httpd.New(httpd.Config{Body: a.metricsPage, Logger: a.log})
		if err != nil {
			panic("agent: " + err.Error()) // Body is set: a programming error
		}
		l.Go(phaseControl, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	}
	if path := a.cfg.MetricsTextfile; path != "" {
		l.Go(phaseControl, func(ctx context.Context) error {
			every(ctx, textfileEvery, a.writeTextfile)
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				a.log.Warn("removing the metrics textfile", "path", path, "err", err)
			}
			return nil
		})
	}
}

// writeTextfile rewrites Config.MetricsTextfile.
func (a *Agent) writeTextfile() {
	page, err := a.metricsPage(context.Background())
	if err == nil {
		path := a.cfg.MetricsTextfile
		err = textfile.Write(filepath.Dir(path), filepath.Base(path), page, false)
	}
	if err != nil {
		a.log.Warn("writing the metrics textfile", "err", err)
	}
}

// report builds the report and returns it with the table's summary it
// was built from.
func (a *Agent) report(source string) (report.Report, conntrackmap.Summary) {
	if source == report.SourceDaemon {
		a.refreshReplies()
	}
	in := report.Input{Now: a.cfg.Now(), Host: a.host, Source: source, Table: a.table.Summary(),
		WAN: []report.Interface{*a.wan.Load()}, LAN: a.lan}
	if source == report.SourceDaemon {
		s := a.source.Stats()
		in.Conntrack = &s
		in.Probe, in.UpstreamProbe = a.prober.latest()
		in.Enforcement = a.enforcement()
	}
	if a.saved != nil {
		in.Sysctls, in.NATHelpers = a.saved.Sysctls, a.saved.NATHelpers
	} else {
		in.Sysctls, in.NATHelpers = a.cfg.System.Sysctls(report.Sysctls()), a.cfg.System.NATHelpers()
		in.BridgeNFCallIptables = a.bridgeNF()
	}
	return report.Build(in), in.Table
}

// checkListen accepts "", or ip:port / :port with a numeric port: no name
// to resolve at start.
func checkListen(s string) error {
	if s == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not address:port", s)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil {
		return fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	return nil
}

// checkTextfile accepts "" or an absolute path ending in .prom, the files
// the textfile collectors read.
func checkTextfile(p string) error {
	if p == "" {
		return nil
	}
	if err := checkPath(p); err != nil {
		return err
	}
	if !strings.HasSuffix(p, textfile.Suffix) || filepath.Base(p) == textfile.Suffix {
		return fmt.Errorf("%q: the collectors read files named *%s only", p, textfile.Suffix)
	}
	return nil
}
