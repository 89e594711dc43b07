package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/natp2p/natp2p/internal/logx"
	"github.com/natp2p/natp2p/probe/introducer"
)

// devLog is the syslog socket the logger dials (tests point it elsewhere).
var devLog = logx.DevLog

// errHelp: -h was asked for and the usage printed.
var errHelp = flag.ErrHelp

// options are the flags before they become an introducer.Config.
type options struct {
	primary, alternate netip.Addr
	port, altPort      uint
	tcp                bool
	rate               float64
	burst, maxSources  int
	summary            time.Duration
	software, logLevel string
	logTarget          string
	globalRate         float64
	tcpConns, perSrc   int
	tcpLife            time.Duration
	tcpRequests        int
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("natp2p-introducer", flag.ContinueOnError)
	fs.TextVar(&o.primary, "primary", netip.Addr{}, "primary `IP` address to serve on (required)")
	fs.TextVar(&o.alternate, "alternate", netip.Addr{},
		"alternate `IP` address (without it: RFC 5780 degraded single-IP mode)")
	fs.UintVar(&o.port, "port", introducer.DefaultPort, "primary `port`")
	fs.UintVar(&o.altPort, "alt-port", introducer.DefaultAltPort, "alternate `port`")
	fs.BoolVar(&o.tcp, "tcp", true, "also serve Binding over TCP")
	fs.Float64Var(&o.rate, "rate", introducer.DefaultRate, "requests per second per source (negative: no limit, nor a global one unless --global-rate is given)")
	fs.IntVar(&o.burst, "burst", introducer.DefaultBurst, "burst of requests per source")
	fs.IntVar(&o.maxSources, "max-sources", introducer.DefaultMaxSources, "sources the rate limiter tracks at most")
	fs.Float64Var(&o.globalRate, "global-rate", 0, fmt.Sprintf("UDP replies per second in total, all sources together "+
		"(default %d, or none with --rate -1; negative: none)", introducer.DefaultGlobalRate))
	fs.IntVar(&o.tcpConns, "tcp-conns", introducer.DefaultTCPConns, "concurrent TCP connections at most")
	fs.IntVar(&o.perSrc, "tcp-conns-per-source", introducer.DefaultTCPConnsPerSource,
		"concurrent TCP connections per source (IPv4 address or IPv6 /64) at most")
	fs.DurationVar(&o.tcpLife, "tcp-life", introducer.DefaultTCPLife,
		"life of a TCP connection from its accept, whatever it sends")
	fs.IntVar(&o.tcpRequests, "tcp-requests", introducer.DefaultTCPRequests, "requests per TCP connection at most")
	fs.DurationVar(&o.summary, "summary", introducer.DefaultSummaryEvery, "interval of the summary log line (negative: none)")
	fs.StringVar(&o.software, "software", introducer.DefaultSoftware, "SOFTWARE attribute value")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logTarget, "log-target", logx.TargetAuto,
		"where logs go, a `target`: auto (syslog under procd, else stderr), syslog (/dev/log) or stderr")
	return fs
}

// parseFlags parses args into a Config. Errors are one line; -h prints
// the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (introducer.Config, error) {
	var o options
	fs := newFlagSet(&o)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stderr)
			return introducer.Config{}, errHelp
		}
		return introducer.Config{}, fmt.Errorf("%v (see natp2p-introducer -h)", err)
	}
	if fs.NArg() > 0 {
		return introducer.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o.config(stderr)
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "usage: natp2p-introducer --primary IP [--alternate IP] [flags]\n"+
		"       natp2p-introducer version\n\nflags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func (o *options) config(stderr io.Writer) (introducer.Config, error) {
	level, err := parseLevel(o.logLevel)
	switch {
	case err != nil:
		return introducer.Config{}, err
	case logx.CheckTarget(o.logTarget) != nil:
		return introducer.Config{}, fmt.Errorf("--log-target: %v", logx.CheckTarget(o.logTarget))
	case !o.primary.IsValid():
		return introducer.Config{}, errors.New("--primary IP is required")
	case o.port == 0 || o.port > 65535 || o.altPort == 0 || o.altPort > 65535:
		return introducer.Config{}, fmt.Errorf("ports must be 1-65535 (--port %d, --alt-port %d)", o.port, o.altPort)
	}
	if err := o.checkLimits(); err != nil {
		return introducer.Config{}, err
	}
	return introducer.Config{
		Primary: o.primary, Alternate: o.alternate,
		Port: uint16(o.port), AltPort: uint16(o.altPort), TCP: o.tcp,
		Rate: o.rate, Burst: o.burst, MaxSources: o.maxSources,
		SummaryEvery: o.summary, Software: o.software, GlobalRate: o.globalRate,
		TCPConns: o.tcpConns, TCPConnsPerSource: o.perSrc, TCPLife: o.tcpLife, TCPRequests: o.tcpRequests,
		Logger: logx.NewAt(devLog, o.logTarget, "natp2p-introducer", level, stderr),
	}, nil
}

// checkLimits checks the limits' flags: the Config's zero values mean
// defaults, so a 0 given on the command line is refused rather than
// taken for one.
func (o *options) checkLimits() error {
	switch {
	case math.IsNaN(o.globalRate) || math.IsInf(o.globalRate, 0):
		return fmt.Errorf("--global-rate %v is not a number of replies per second", o.globalRate)
	case o.tcpConns < 1:
		return fmt.Errorf("--tcp-conns %d: must be at least 1", o.tcpConns)
	case o.perSrc < 1:
		return fmt.Errorf("--tcp-conns-per-source %d: must be at least 1", o.perSrc)
	case o.tcpLife <= 0:
		return fmt.Errorf("--tcp-life %v: must be positive", o.tcpLife)
	case o.tcpRequests < 1:
		return fmt.Errorf("--tcp-requests %d: must be at least 1", o.tcpRequests)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("unknown --log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}
