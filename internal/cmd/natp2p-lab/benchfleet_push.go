//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/natp2p/natp2p/internal/fleetsim"
)

// pushFigures is what one pushing fleet measured.
type pushFigures struct {
	routers        int
	pushes         int64
	bytesPerPush   float64 // request body
	cpuPerPush     time.Duration
	series         float64 // per router, in victoria-metrics
	vmRSS, vmDir   int64   // victoria-metrics' resident memory and data directory
	rowsPerRouter  float64 // samples stored per router
	pushedPerRoute float64 // pushes per router in the window
	vmCPU          time.Duration
	vmCPUPerSample time.Duration // victoria-metrics' CPU per sample imported
}

// pushRun has the fleet push into victoria-metrics through a proxy that
// counts the pushes and their bytes, for two push intervals and the
// window. idle is one agent's CPU per second when nothing asks it.
func pushRun(ctx context.Context, cfg fleetConfig, routers []fleetsim.Router, idle time.Duration) (pushFigures, error) {
	fig := pushFigures{routers: len(routers)}
	dir, err := os.MkdirTemp("", "natp2p-bench-fleet-")
	if err != nil {
		return fig, err
	}
	defer os.RemoveAll(dir)
	vm, err := fleetsim.StartVictoria(cfg.victoria, filepath.Join(dir, "vm"))
	if err != nil {
		return fig, err
	}
	defer vm.Close()
	proxy, err := startCountingProxy(vm.URL)
	if err != nil {
		return fig, err
	}
	defer proxy.Close()
	f, err := fleetsim.StartFleet(fleetsim.FleetConfig{Agent: cfg.agent, Dir: filepath.Join(dir, "routers"), Routers: routers,
		PushURL: proxy.url + "/api/v1/import/prometheus", PushInterval: fleetPushInterval})
	if err != nil {
		return fig, err
	}
	defer f.Close()
	window := 2*fleetPushInterval + cfg.window
	v0, err := vm.Usage()
	if err != nil {
		return fig, err
	}
	used, err := measureCPU(ctx, f, window)
	if err != nil {
		return fig, err
	}
	v1, err := vm.Usage()
	if err != nil {
		return fig, err
	}
	fig.vmCPU = v1.Sub(v0).CPU
	fig.pushes = proxy.requests.Load()
	if fig.pushes == 0 {
		return fig, fmt.Errorf("no push in %v", window)
	}
	fig.bytesPerPush = float64(proxy.bytes.Load()) / float64(fig.pushes)
	fig.cpuPerPush = (used - idle*time.Duration(len(routers))*time.Duration(window/time.Second)) / time.Duration(fig.pushes)
	fig.pushedPerRoute = float64(fig.pushes) / float64(len(routers))
	return fig, victoriaFigures(ctx, vm, &fig)
}

// victoriaFigures reads what victoria-metrics holds for the fleet.
func victoriaFigures(ctx context.Context, vm *fleetsim.Server, fig *pushFigures) error {
	if err := fleetsim.FlushVictoria(ctx, vm); err != nil {
		return err
	}
	series, err := fleetsim.QueryValue(ctx, vm.URL, `count({__name__=~"natp2p_.+"})`)
	if err != nil {
		return err
	}
	fig.series = series / float64(fig.routers)
	rows, err := selfMetric(vm.URL, "vm_rows_inserted_total")
	if err != nil {
		return err
	}
	fig.rowsPerRouter = rows / float64(fig.routers)
	fig.vmCPUPerSample = fig.vmCPU / time.Duration(rows)
	u, err := vm.Usage()
	fig.vmRSS, fig.vmDir = u.RSS, vm.DiskUsage()
	return err
}

// countingProxy forwards to victoria-metrics, counting requests and
// their body bytes.
type countingProxy struct {
	url             string
	srv             *http.Server
	requests, bytes atomic.Int64
}

func startCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{url: "http://" + ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		r.Body = countingBody{r.Body, &p.bytes}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *countingProxy) Close() { p.srv.Close() }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// printFleet prints the figures of each fleet size, and per router.
func printFleet(w io.Writer, scrapes []scrapeFigures, pushes []pushFigures) {
	fmt.Fprintf(w, "%-44s", "routers")
	for _, s := range scrapes {
		fmt.Fprintf(w, " %14d", s.routers)
	}
	fmt.Fprintln(w)
	row := func(name string, f func(i int) string) {
		fmt.Fprintf(w, "%-44s", name)
		for i := range scrapes {
			fmt.Fprintf(w, " %14s", f(i))
		}
		fmt.Fprintln(w)
	}
	kib := func(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	row("series per router (scraped)", func(i int) string { return fmt.Sprintf("%.0f", scrapes[i].series) })
	row("series per router (victoria-metrics)", func(i int) string { return fmt.Sprintf("%.0f", pushes[i].series) })
	row("bytes per scrape", func(i int) string { return kib(scrapes[i].page) })
	row("bytes per scrape, gzip'd", func(i int) string { return kib(scrapes[i].pageGzip) })
	row("bytes per push (request body)", func(i int) string { return kib(pushes[i].bytesPerPush) })
	row("agent CPU per scrape", func(i int) string { return scrapes[i].cpuPerScrape.Round(time.Microsecond).String() })
	row("agent CPU per push (with its client)", func(i int) string { return pushes[i].cpuPerPush.Round(time.Microsecond).String() })
	row("agent CPU idle, per second", func(i int) string { return scrapes[i].idleCPU.Round(time.Microsecond).String() })
	row("agent RSS", func(i int) string { return mib(int64(scrapes[i].agentRSS)) })
	row("pushes per router in the window", func(i int) string { return fmt.Sprintf("%.2f", pushes[i].pushedPerRoute) })
	row("Prometheus RSS", func(i int) string { return mib(scrapes[i].promRSS) })
	row("Prometheus RSS per router", func(i int) string { return kib(float64(scrapes[i].promRSS) / float64(scrapes[i].routers)) })
	row("Prometheus disk (WAL) per router", func(i int) string { return kib(float64(scrapes[i].promDir) / float64(scrapes[i].routers)) })
	row("Prometheus disk per sample (WAL)", func(i int) string { return fmt.Sprintf("%.2f B", float64(scrapes[i].promDir)/scrapes[i].samples) })
	row("Prometheus CPU per sample", func(i int) string { return scrapes[i].promCPUPerSample.String() })
	row("victoria-metrics CPU per sample", func(i int) string { return pushes[i].vmCPUPerSample.String() })
	row("victoria-metrics RSS", func(i int) string { return mib(pushes[i].vmRSS) })
	row("victoria-metrics RSS per router", func(i int) string { return kib(float64(pushes[i].vmRSS) / float64(pushes[i].routers)) })
	row("victoria-metrics disk per router", func(i int) string { return kib(float64(pushes[i].vmDir) / float64(pushes[i].routers)) })
	row("victoria-metrics disk per sample", func(i int) string {
		return fmt.Sprintf("%.2f B", float64(pushes[i].vmDir)/(pushes[i].rowsPerRouter*float64(pushes[i].routers)))
	})
	if n := len(scrapes); n > 1 {
		a, b := scrapes[0], scrapes[n-1]
		va, vb := pushes[0], pushes[n-1]
		d := float64(b.routers - a.routers)
		fmt.Fprintf(w, "\ngrowth from %d to %d routers: Prometheus %.1f KiB RSS per router, victoria-metrics %.1f KiB RSS per router\n",
			a.routers, b.routers, float64(b.promRSS-a.promRSS)/d/1024, float64(vb.vmRSS-va.vmRSS)/d/1024)
	}
}
