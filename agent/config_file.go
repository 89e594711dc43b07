package agent

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/enforce"
	"github.com/natp2p/natp2p/internal/uci"
)

// FileConfig is the `config natp2p` section of the UCI file
// /etc/config/natp2p. Unset options keep their zero value; the daemon's
// defaults then apply.
type FileConfig struct {
	Enabled      bool     // for the init script: whether to start the daemon at all
	WANInterface string   // for the init script: the OpenWrt interface whose device it passes as --wan
	Mode         string   // "observe" or "enforce"
	WAN          string   // WAN device; empty: the default route's
	LAN          []string // LAN devices; empty: the others with an IPv4 address
	Socket       string   // control socket path
	EventBuffer  int      // conntrack event socket buffer, bytes
	LogLevel     string   // debug, info, warn or error

	Introducer     string        // host[:port] of the RFC 5780 server to probe; empty: no probes
	ProbeInterval  time.Duration // how often; zero: DefaultProbeInterval
	ProbeFrom      string        // LAN-side address to probe from; empty: the first LAN address
	ProbeNetns     *bool         // probe from a namespace on the LAN bridge; nil: the default (on)
	ProbeNetnsAddr string        // that namespace's address; empty: picked from the LAN prefix

	// Enforce mode. Nil switches mean "not set": the defaults (on) apply.
	Backend         string        // auto, nftables or iptables
	EnforceMapping  *bool         // pin mappings
	EnforceHairpin  *bool         // hairpin to pinned endpoints
	EnforceTimeouts *bool         // raise the conntrack timeouts
	UDPTimeout      int           // seconds; zero: the default
	PinGrace        time.Duration // zero: the default
	PinQuota        int           // pins per LAN host; zero: the default, -1: unlimited
	PreservePorts   *bool         // iptables: masquerade unpinned LAN flows keeping their ports
}

// Limits of the options that take numbers.
const (
	minEventBuffer = 4 << 10
	maxEventBuffer = 256 << 20
)

// fileOptions maps each option to its parser.
var fileOptions = map[string]func(*FileConfig, []string) error{
	"enabled": func(c *FileConfig, v []string) (err error) { c.Enabled, err = parseBool(one(v)); return },
	"mode":    func(c *FileConfig, v []string) error { c.Mode = one(v); return CheckMode(c.Mode) },
	"wan":     func(c *FileConfig, v []string) error { c.WAN = one(v); return checkIface(c.WAN, true) },
	"wan_interface": func(c *FileConfig, v []string) error {
		c.WANInterface = one(v)
		return checkUCIName(c.WANInterface)
	},
	"lan":          func(c *FileConfig, v []string) error { return c.setLAN(v) },
	"socket":       func(c *FileConfig, v []string) error { c.Socket = one(v); return checkPath(c.Socket) },
	"event_buffer": func(c *FileConfig, v []string) (err error) { c.EventBuffer, err = parseBuffer(one(v)); return },
	"log_level":    func(c *FileConfig, v []string) error { c.LogLevel = one(v); return CheckLogLevel(c.LogLevel) },
	"introducer":   func(c *FileConfig, v []string) error { c.Introducer = one(v); return checkHostPort(c.Introducer) },
	"probe_interval": func(c *FileConfig, v []string) (err error) {
		c.ProbeInterval, err = parseInterval(one(v))
		return err
	},
	"probe_from":  func(c *FileConfig, v []string) error { c.ProbeFrom = one(v); return checkAddr(c.ProbeFrom) },
	"probe_netns": func(c *FileConfig, v []string) error { return setSwitch(&c.ProbeNetns, one(v)) },
	"probe_netns_addr": func(c *FileConfig, v []string) error {
		c.ProbeNetnsAddr = one(v)
		return CheckIPv4(c.ProbeNetnsAddr)
	},
	"backend": func(c *FileConfig, v []string) error { c.Backend = one(v); return CheckBackend(c.Backend) },
	"enforce_mapping": func(c *FileConfig, v []string) error {
		return setSwitch(&c.EnforceMapping, one(v))
	},
	"enforce_hairpin": func(c *FileConfig, v []string) error {
		return setSwitch(&c.EnforceHairpin, one(v))
	},
	"enforce_timeouts": func(c *FileConfig, v []string) error {
		return setSwitch(&c.EnforceTimeouts, one(v))
	},
	"udp_timeout": func(c *FileConfig, v []string) (err error) { c.UDPTimeout, err = ParseUDPTimeout(one(v)); return },
	"pin_grace":   func(c *FileConfig, v []string) (err error) { c.PinGrace, err = ParsePinGrace(one(v)); return },
	"pin_quota":   func(c *FileConfig, v []string) (err error) { c.PinQuota, err = ParsePinQuota(one(v)); return },
	"preserve_ports": func(c *FileConfig, v []string) error {
		return setSwitch(&c.PreservePorts, one(v))
	},
}

func setSwitch(dst **bool, s string) error {
	b, err := parseBool(s)
	if err != nil {
		return err
	}
	*dst = &b
	return nil
}

// ParseUDPTimeout reads the UDP timeout enforcement raises to: seconds,
// from RFC 4787's 120 to a day.
func ParseUDPTimeout(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < enforce.MinUDPTimeout || n > 86400 {
		return 0, fmt.Errorf("%q: want seconds from %d (RFC 4787 REQ-5) to 86400", s, enforce.MinUDPTimeout)
	}
	return n, nil
}

// ParsePinGrace reads how long a pin outlives its last flow: a duration
// ("30s") or seconds, up to an hour.
func ParsePinGrace(s string) (time.Duration, error) {
	d, err := parseDuration(s, "30s")
	if err != nil {
		return 0, err
	}
	if d < time.Second || d > time.Hour {
		return 0, fmt.Errorf("%q: want 1s to 1h", s)
	}
	return d, nil
}

// parseDuration reads a Go duration or a number of seconds; example
// shows the form in the error.
func parseDuration(s, example string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. %s)", s, example)
	}
	return time.Duration(n) * time.Second, nil
}

// ParsePinQuota reads the pins one LAN host may hold: 1 to 65535, or -1
// for no limit.
func ParsePinQuota(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n == 0 || n < -1 || n > 65535 {
		return 0, fmt.Errorf("%q: want 1 to 65535 pins per host, or -1 for no limit", s)
	}
	return n, nil
}

// parseInterval reads a probe interval: a Go duration ("30m") or seconds,
// at least a minute (a fleet must not flood its introducer).
func parseInterval(s string) (time.Duration, error) {
	d, err := parseDuration(s, "30m")
	if err != nil {
		return 0, err
	}
	if d < time.Minute {
		return 0, fmt.Errorf("%q: probe at most once a minute", s)
	}
	return d, nil
}

func checkHostPort(s string) error {
	if s == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, "3478"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" || strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q is not host[:port]", s)
	}
	return nil
}

func checkAddr(s string) error {
	if _, err := netip.ParseAddr(s); s != "" && err != nil {
		return fmt.Errorf("%q is not an IP address", s)
	}
	return nil
}

// CheckIPv4 accepts an IPv4 address, or nothing.
func CheckIPv4(s string) error {
	if a, err := netip.ParseAddr(s); s != "" && (err != nil || !a.Is4()) {
		return fmt.Errorf("%q is not an IPv4 address", s)
	}
	return nil
}

// LoadConfig reads and checks a UCI config file. Errors name the file and
// line, and say what is wrong in one line.
func LoadConfig(path string) (FileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileConfig{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	secs, err := uci.Parse(f)
	if err != nil {
		return FileConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	c, err := fromSections(secs)
	if err != nil {
		return FileConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func fromSections(secs []*uci.Section) (FileConfig, error) {
	var found *uci.Section
	for _, s := range secs {
		if s.Type != "natp2p" {
			return FileConfig{}, fmt.Errorf("line %d: unknown section type %q (want natp2p)", s.Line, s.Type)
		}
		if found != nil {
			return FileConfig{}, fmt.Errorf("line %d: a second natp2p section (the first is at line %d)", s.Line, found.Line)
		}
		found = s
	}
	if found == nil {
		return FileConfig{}, fmt.Errorf("no `config natp2p` section")
	}
	c := FileConfig{Enabled: true}
	for _, key := range sortedKeys(found.Options) {
		set, ok := fileOptions[key]
		if !ok {
			return FileConfig{}, fmt.Errorf("line %d: unknown option %q (known: %s)", found.Lines[key], key, knownOptions())
		}
		if err := set(&c, found.Options[key]); err != nil {
			return FileConfig{}, fmt.Errorf("line %d: option %s: %w", found.Lines[key], key, err)
		}
	}
	return c, nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func knownOptions() string {
	keys := make([]string, 0, len(fileOptions))
	for k := range fileOptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func one(v []string) string { return v[len(v)-1] }

func (c *FileConfig) setLAN(v []string) error {
	c.LAN = nil
	for _, item := range v {
		for _, name := range strings.Fields(item) {
			if err := checkIface(name, false); err != nil {
				return err
			}
			c.LAN = append(c.LAN, name)
		}
	}
	return nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on", "enabled":
		return true, nil
	case "0", "false", "no", "off", "disabled":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use 1 or 0)", s)
}

func parseBuffer(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < minEventBuffer || n > maxEventBuffer {
		return 0, fmt.Errorf("%q: want bytes from %d to %d", s, minEventBuffer, maxEventBuffer)
	}
	return n, nil
}

// CheckMode accepts the modes.
func CheckMode(m string) error {
	switch m {
	case "", ModeObserve, ModeEnforce:
		return nil
	}
	return fmt.Errorf("unknown mode %q (use observe or enforce)", m)
}

// CheckLogLevel accepts slog's level names.
func CheckLogLevel(l string) error {
	var lv slog.Level
	if l != "" && lv.UnmarshalText([]byte(l)) != nil {
		return fmt.Errorf("unknown log level %q (use debug, info, warn or error)", l)
	}
	return nil
}

// checkIface accepts a Linux interface name (IFNAMSIZ, no slash or space).
func checkIface(name string, emptyOK bool) error {
	switch {
	case name == "" && emptyOK:
		return nil
	case name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t:") || name == "." || name == "..":
		return fmt.Errorf("%q is not an interface name", name)
	}
	return nil
}

// checkUCIName accepts an OpenWrt interface (UCI section) name.
func checkUCIName(name string) error {
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%q is not an OpenWrt interface name", name)
		}
	}
	return nil
}

func checkPath(p string) error {
	if p != "" && !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	return nil
}
