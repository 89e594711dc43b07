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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/internal/httpd"
	"github.com/natp2p/natp2p/metrics"
	"github.com/natp2p/natp2p/metrics/push"
	"github.com/natp2p/natp2p/metrics/textfile"
	"github.com/natp2p/natp2p/report"
)

// textfileEvery is how often the daemon rewrites Config.MetricsTextfile.
const textfileEvery = time.Minute

// Metrics writes the agent's report as Prometheus metrics (docs/metrics.md),
// with the table's counts and, from a daemon, its probe counters.
func (a *Agent) Metrics(w io.Writer, source string) error {
	r, s := a.report(source)
	in := metrics.Input{Report: &r, Table: s, Device: a.device,
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

// metricsOut are the ways out of the metrics that can fail at start: the
// listener of Config.MetricsListen and the pusher of Config.MetricsPush,
// each nil when not configured.
type metricsOut struct {
	ln     net.Listener
	pusher *push.Pusher
}

func (o metricsOut) close() {
	if o.ln != nil {
		o.ln.Close()
	}
}

// openOutputs opens what Run and runReplay answer on: the control socket
// (first: it refuses a second agent) and the metrics outputs.
func (a *Agent) openOutputs() (net.Listener, metricsOut, error) {
	ln, err := a.hooks.listen(a.cfg.Socket)
	if err != nil {
		return nil, metricsOut{}, err
	}
	out, err := a.openMetrics()
	if err != nil {
		ln.Close()
		return nil, metricsOut{}, err
	}
	return ln, out, nil
}

// openMetrics opens the listener, finds the push client and checks the
// textfile's directory, so that a port in use, a missing client or a
// textfile on flash stops the daemon at start.
func (a *Agent) openMetrics() (metricsOut, error) {
	var out metricsOut
	var err error
	if path := a.cfg.MetricsTextfile; path != "" {
		if err := textfile.Check(filepath.Dir(path), false); err != nil {
			return out, fmt.Errorf("metrics_textfile %s: %w", path, err)
		}
	}
	if a.cfg.MetricsPush != "" {
		labels := a.cfg.MetricsPushLabels
		if labels == nil {
			labels = map[string]string{"instance": a.host, "job": "natp2p"}
		}
		out.pusher, err = push.New(push.Config{URL: a.cfg.MetricsPush, Labels: labels, Body: a.metricsPage,
			Interval: a.cfg.MetricsPushInterval, Client: a.cfg.MetricsPushClient, Logger: a.log})
		if err != nil {
			return out, fmt.Errorf("metrics: %w", err)
		}
	}
	if a.cfg.MetricsListen != "" {
		if out.ln, err = net.Listen("tcp", a.cfg.MetricsListen); err != nil {
			return out, fmt.Errorf("metrics: %w", err)
		}
	}
	return out, nil
}

// startMetrics serves /metrics, pushes and rewrites the textfile, each
// if configured, in the control phase: metrics are out until the end. The
// textfile goes when the daemon stops, so that a router whose natp2p is
// stopped on purpose does not look silent.
func (a *Agent) startMetrics(l *lifecycle, out metricsOut) {
	if ln := out.ln; ln != nil {
		srv, err := httpd.New(httpd.Config{Body: a.metricsPage, Logger: a.log})
		if err != nil {
			panic("agent: " + err.Error()) // Body is set: a programming error
		}
		l.Go(phaseControl, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	}
	if p := out.pusher; p != nil {
		l.Go(phaseControl, func(ctx context.Context) error { p.Run(ctx); return nil })
	}
	if path := a.cfg.MetricsTextfile; path != "" {
		l.Go(phaseControl, func(ctx context.Context) error {
			if a.replay != nil {
				a.writeTextfile() // the report will not change: write it now
			}
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
// was built from (nil for a replayed report, which has none).
func (a *Agent) report(source string) (report.Report, *conntrackmap.Summary) {
	if a.replay != nil {
		return *a.replay, nil
	}
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
	return report.Build(in), &in.Table
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

// checkPushClient accepts auto or one of push.Clients.
func checkPushClient(c string) error {
	if c == "auto" || slices.Contains(push.Clients, c) {
		return nil
	}
	return fmt.Errorf("%q: use auto, %s", c, strings.Join(push.Clients, ", "))
}

// checkPushURL accepts "" or an http:// or https:// URL.
func checkPushURL(u string) error {
	if u == "" {
		return nil
	}
	return push.CheckURL(u)
}

// minPushInterval bounds how often a router forks a client to push
// (lab tests and fleet simulations push this often).
const minPushInterval = 10 * time.Second

// parsePushInterval reads a push interval of at least minPushInterval.
func parsePushInterval(s string) (time.Duration, error) {
	d, err := parseDuration(s, "5m")
	if err == nil && d < minPushInterval {
		err = fmt.Errorf("%q: push at most every %s", s, minPushInterval)
	}
	return d, err
}

// setPushLabels sets the push labels: a UCI list of name=value, each item
// possibly several separated by spaces (or commas on the command line).
func setPushLabels(s *Settings, v []string) error {
	s.MetricsPushLabels = nil
	for _, item := range v {
		for _, l := range strings.FieldsFunc(item, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			name, _, ok := strings.Cut(l, "=")
			if !ok || !labelName(name) || strings.HasPrefix(name, "__") {
				return fmt.Errorf("%q is not name=value with a Prometheus label name", l)
			}
			s.MetricsPushLabels = append(s.MetricsPushLabels, l)
		}
	}
	return nil
}

// labelName reports whether s is a Prometheus label name.
func labelName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// pushLabels turns name=value items into Config.MetricsPushLabels: nil
// for none (the defaults).
func pushLabels(items []string) map[string]string {
	if len(items) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, l := range items {
		name, value, _ := strings.Cut(l, "=")
		m[name] = value
	}
	return m
}

// pushClient is Config.MetricsPushClient for the option's value.
func pushClient(c string) string {
	if c == "auto" {
		return ""
	}
	return c
}
