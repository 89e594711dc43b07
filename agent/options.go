package agent

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/natp2p/natp2p/internal/logx"
)

// Settings are the daemon's options: the defaults of Options, then the
// UCI config file's options, then the command line's flags.
type Settings struct {
	Enabled      bool     // for the init scripts: whether to start the daemon at all
	WANInterface string   // for OpenWrt's init script: the interface whose device it passes as --wan
	Mode         string   // ModeObserve or ModeEnforce
	WAN          string   // WAN device; empty: the default route's
	LAN          []string // LAN devices; empty: the others with an IPv4 address
	Socket       string   // control socket path
	EventBuffer  int      // conntrack event socket buffer, bytes
	LogLevel     string   // debug, info, warn or error
	LogTarget    string   // logx.TargetAuto, TargetSyslog or TargetStderr

	Introducer     string        // host[:port] of the RFC 5780 server to probe; empty: no probes
	ProbeInterval  time.Duration // how often to probe
	ProbeFrom      netip.Addr    // LAN-side address to probe from; invalid: the first LAN address
	ProbeNetns     bool          // probe from a namespace on the LAN bridge
	ProbeNetnsAddr netip.Addr    // that namespace's address; invalid: picked from the LAN prefix

	Backend         string        // enforce mode: auto, nftables or iptables
	EnforceMapping  bool          // enforce mode: pin mappings
	EnforceHairpin  bool          // enforce mode: hairpin to pinned endpoints
	EnforceTimeouts bool          // enforce mode: raise the conntrack timeouts
	UDPTimeout      int           // enforce mode: seconds the UDP timeouts are raised to
	PinGrace        time.Duration // enforce mode: how long a pin outlives its last flow
	PinQuota        int           // enforce mode: pins per LAN host, -1: unlimited
	PreservePorts   bool          // enforce mode, iptables: masquerade unpinned LAN flows keeping their ports

	MetricsListen       string        // ip:port to answer GET /metrics on; empty: off
	MetricsTextfile     string        // *.prom file on tmpfs for node_exporter's textfile collector; empty: off
	MetricsPush         string        // VictoriaMetrics import URL to push to; empty: off
	MetricsPushInterval time.Duration // how often to push
	MetricsPushLabels   []string      // name=value labels pushed series get, over the defaults
	MetricsPushClient   string        // auto or one of push.Clients
}

// Option is one setting of the daemon: a UCI option of /etc/config/natp2p
// and, unless it is for the init scripts only, the command-line flag of
// the same name with '-' for '_'. Options is the one place an option is
// defined: flags, the config file, check-config, the usage text and
// docs/config.md all come from it.
type Option struct {
	Name    string // UCI option name
	Switch  bool   // a boolean: 1 or 0 in the file, --name or --name=false on the command line
	Default string // the default, as the config file writes it; empty: none (detected, or off)
	Example string // a valid value other than the default, for the docs and the tests
	Doc     string // one line for the usage text and the docs; `word` names a flag's argument
	List    bool   // a UCI list; comma-separated on the command line
	Init    bool   // read by the init scripts only: no flag
	OpenWrt bool   // only meaningful under OpenWrt (netifd interface names)
	set     func(s *Settings, v []string) error
}

// Flag returns the option's command-line flag name, or "" for none.
func (o *Option) Flag() string {
	if o.Init {
		return ""
	}
	b := []byte(o.Name)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

// Options are every option of the daemon, in the order the docs list them.
var Options = []Option{
	{Name: "enabled", Example: "0", Switch: true, Default: "1", Init: true, Doc: "start the daemon at boot (the init scripts read it)",
		set: switchOpt(func(s *Settings) *bool { return &s.Enabled })},
	{Name: "mode", Example: "enforce", Default: ModeObserve,
		Doc: "`mode`: observe (report only) or enforce (pin mappings, hairpin, raise timeouts)",
		set: stringOpt(func(s *Settings) *string { return &s.Mode }, CheckMode)},
	{Name: "wan_interface", Example: "wan", Init: true, OpenWrt: true,
		Doc: "the OpenWrt interface facing the internet: the init script passes its device as --wan and restarts the daemon when it comes up",
		set: stringOpt(func(s *Settings) *string { return &s.WANInterface }, checkUCIName)},
	{Name: "wan", Example: "eth0.2", Doc: "WAN `interface` (default: the IPv4 default route's)",
		set: stringOpt(func(s *Settings) *string { return &s.WAN }, func(v string) error { return checkIface(v, true) })},
	{Name: "lan", Example: "br-lan br-guest", List: true, Doc: "LAN `interfaces`, a list, never the WAN (default: the other interfaces with an IPv4 address that are no uplink: no default route, public or 100.64/10 address or fw4 wan zone)",
		set: setLAN},
	{Name: "socket", Example: "/tmp/natp2p/agent.sock", Default: DefaultSocket, Doc: "control socket `path` (the enforcement state file lies beside it)",
		set: stringOpt(func(s *Settings) *string { return &s.Socket }, checkPath)},
	{Name: "event_buffer", Example: "16777216", Default: "8388608", Doc: "receive buffer of the conntrack event socket in `bytes` (4096 to 268435456)",
		set: intOpt(func(s *Settings) *int { return &s.EventBuffer }, parseBuffer)},
	{Name: "log_level", Example: "debug", Default: "info", Doc: "log `level`: debug, info, warn or error",
		set: stringOpt(func(s *Settings) *string { return &s.LogLevel }, CheckLogLevel)},
	{Name: "log_target", Example: "stderr", Default: logx.TargetAuto,
		Doc: "where logs go, a `target`: auto (syslog under procd, else stderr), syslog (/dev/log: logread shows each line at its level) or stderr",
		set: stringOpt(func(s *Settings) *string { return &s.LogTarget }, logx.CheckTarget)},
	{Name: "introducer", Example: "stun.example.net:3478", Doc: "RFC 5780 introducer to probe, `host[:port]` (port 3478 by default; none: no probes)",
		set: stringOpt(func(s *Settings) *string { return &s.Introducer }, checkHostPort)},
	{Name: "probe_interval", Example: "1h", Default: "30m", Doc: "how often to probe, a `duration` (at least 1m)",
		set: durationOpt(func(s *Settings) *time.Duration { return &s.ProbeInterval }, parseInterval)},
	{Name: "probe_netns", Example: "0", Switch: true, Default: "1",
		Doc: "probe from a throwaway network namespace on the LAN bridge, as a LAN host (measures hairpinning); off: from the router's LAN address",
		set: switchOpt(func(s *Settings) *bool { return &s.ProbeNetns })},
	{Name: "probe_netns_addr", Example: "192.168.1.254",
		Doc: "the namespace's IPv4 `address` in the LAN prefix (default: the highest one not the router's, not leased, and that no host answers for)",
		set: addrOpt(func(s *Settings) *netip.Addr { return &s.ProbeNetnsAddr }, true)},
	{Name: "probe_from", Example: "192.168.1.1",
		Doc: "the router's LAN `address` probes leave from without the namespace, which joins the bridge holding it (default: the first LAN address)",
		set: addrOpt(func(s *Settings) *netip.Addr { return &s.ProbeFrom }, false)},
	{Name: "backend", Example: "iptables", Default: BackendAuto,
		Doc: "enforce mode's firewall `backend`: auto (fw4, or nftables in the kernel: nftables; fw3: iptables), nftables or iptables",
		set: stringOpt(func(s *Settings) *string { return &s.Backend }, CheckBackend)},
	{Name: "enforce_mapping", Example: "0", Switch: true, Default: "1", Doc: "enforce mode: pin mappings (endpoint-independent, no port overloading)",
		set: switchOpt(func(s *Settings) *bool { return &s.EnforceMapping })},
	{Name: "enforce_hairpin", Example: "0", Switch: true, Default: "1", Doc: "enforce mode: hairpin LAN hosts to each other's public endpoints",
		set: switchOpt(func(s *Settings) *bool { return &s.EnforceHairpin })},
	{Name: "enforce_timeouts", Example: "0", Switch: true, Default: "1", Doc: "enforce mode: raise the conntrack timeouts (RFC 4787, RFC 5382)",
		set: switchOpt(func(s *Settings) *bool { return &s.EnforceTimeouts })},
	{Name: "udp_timeout", Example: "600", Default: "300", Doc: "enforce mode: the UDP conntrack timeouts are raised to this many `seconds` (120 to 86400)",
		set: intOpt(func(s *Settings) *int { return &s.UDPTimeout }, parseUDPTimeout)},
	{Name: "pin_grace", Example: "1m", Default: "30s", Doc: "enforce mode: how long a pin outlives its last flow, a `duration` (1s to 1h)",
		set: durationOpt(func(s *Settings) *time.Duration { return &s.PinGrace }, parsePinGrace)},
	{Name: "pin_quota", Example: "-1", Default: "2048", Doc: "enforce mode: how many `pins` one LAN host may hold (1 to 65535, -1: no limit)",
		set: intOpt(func(s *Settings) *int { return &s.PinQuota }, parsePinQuota)},
	{Name: "preserve_ports", Example: "1", Switch: true, Default: "0",
		Doc: "enforce mode, iptables backend: natp2p masquerades new LAN flows without a pin itself, keeping their ports, ahead of the router's NAT",
		set: switchOpt(func(s *Settings) *bool { return &s.PreservePorts })},
	{Name: "metrics_listen", Example: "127.0.0.1:9959",
		Doc: "answer Prometheus' GET /metrics on `ip:port` (:port for every address; none: off; see docs/metrics.md)",
		set: stringOpt(func(s *Settings) *string { return &s.MetricsListen }, checkListen)},
	{Name: "metrics_textfile", Example: "/var/prometheus/natp2p.prom",
		Doc: "rewrite the metrics every minute into this `file`, ending in .prom, for node_exporter's textfile collector; its directory (or its parent) must be on tmpfs, or the daemon does not start (none: off)",
		set: stringOpt(func(s *Settings) *string { return &s.MetricsTextfile }, checkTextfile)},
	{Name: "metrics_push", Example: "https://vm.example.net/api/v1/import/prometheus",
		Doc: "push the metrics to this VictoriaMetrics or vmagent import `url` through curl, uclient-fetch or wget (none: off)",
		set: stringOpt(func(s *Settings) *string { return &s.MetricsPush }, checkPushURL)},
	{Name: "metrics_push_interval", Example: "15m", Default: "5m", Doc: "how often to push, a `duration` (at least 10s; jittered, longer after failures)",
		set: durationOpt(func(s *Settings) *time.Duration { return &s.MetricsPushInterval }, parsePushInterval)},
	{Name: "metrics_push_labels", Example: "instance=cpe-0042 region=north", List: true,
		Doc: "`name=value` labels of the pushed series, a list (default: instance=the hostname, job=natp2p)",
		set: setPushLabels},
	{Name: "metrics_push_client", Example: "curl", Default: "auto",
		Doc: "the system `client` that pushes (natp2p links no TLS): auto (the first found of curl, uclient-fetch, wget), curl, uclient-fetch or wget",
		set: stringOpt(func(s *Settings) *string { return &s.MetricsPushClient }, checkPushClient)},
}

// DefaultSettings returns the defaults of Options.
func DefaultSettings() Settings {
	var s Settings
	for i := range Options {
		if o := &Options[i]; o.Default != "" {
			if err := o.set(&s, []string{o.Default}); err != nil {
				panic("agent: option " + o.Name + ": bad default: " + err.Error()) // a programming error in Options
			}
		}
	}
	return s
}

// lookupOption returns the option called name, or nil.
func lookupOption(name string) *Option {
	for i := range Options {
		if Options[i].Name == name {
			return &Options[i]
		}
	}
	return nil
}

// Level returns the log level (info if it is not one).
func (s *Settings) Level() slog.Level {
	var lv slog.Level
	if lv.UnmarshalText([]byte(s.LogLevel)) != nil {
		return slog.LevelInfo
	}
	return lv
}

// Config returns the daemon's configuration. System, Logger and Now stay
// zero for the caller to set.
func (s *Settings) Config() Config {
	cfg := Config{WAN: s.WAN, LAN: s.LAN, Socket: s.Socket, ReadBuffer: s.EventBuffer,
		Introducer: s.Introducer, ProbeInterval: s.ProbeInterval, ProbeFrom: s.ProbeFrom,
		NoProbeNetns: !s.ProbeNetns, ProbeNetnsAddr: s.ProbeNetnsAddr,
		MetricsListen: s.MetricsListen, MetricsTextfile: s.MetricsTextfile,
		MetricsPush: s.MetricsPush, MetricsPushInterval: s.MetricsPushInterval, MetricsPushLabels: pushLabels(s.MetricsPushLabels),
		MetricsPushClient: pushClient(s.MetricsPushClient)}
	if s.Mode == ModeEnforce {
		cfg.Enforce = &EnforceConfig{Backend: s.Backend, Mapping: s.EnforceMapping, Hairpin: s.EnforceHairpin,
			Timeouts: s.EnforceTimeouts, UDPTimeout: s.UDPTimeout, PinGrace: s.PinGrace, PinQuota: s.PinQuota,
			PreservePorts: s.PreservePorts}
	}
	return cfg
}
