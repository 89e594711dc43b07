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

// Limits of the options that take numbers.
const (
	minEventBuffer = 4 << 10
	maxEventBuffer = 256 << 20
)

// stringOpt sets a string option after check accepts it.
func stringOpt(field func(*Settings) *string, check func(string) error) func(*Settings, []string) error {
	return func(s *Settings, v []string) error {
		if err := check(one(v)); err != nil {
			return err
		}
		*field(s) = one(v)
		return nil
	}
}

// switchOpt sets a boolean option (1/0, true/false, yes/no, on/off).
func switchOpt(field func(*Settings) *bool) func(*Settings, []string) error {
	return func(s *Settings, v []string) (err error) {
		*field(s), err = parseBool(one(v))
		return err
	}
}

// intOpt sets a number that parse reads and checks.
func intOpt(field func(*Settings) *int, parse func(string) (int, error)) func(*Settings, []string) error {
	return func(s *Settings, v []string) (err error) {
		n, err := parse(one(v))
		if err == nil {
			*field(s) = n
		}
		return err
	}
}

// durationOpt sets a duration that parse reads and checks.
func durationOpt(field func(*Settings) *time.Duration, parse func(string) (time.Duration, error)) func(*Settings, []string) error {
	return func(s *Settings, v []string) (err error) {
		d, err := parse(one(v))
		if err == nil {
			*field(s) = d
		}
		return err
	}
}

// addrOpt sets an IP address (only IPv4 if v4).
func addrOpt(field func(*Settings) *netip.Addr, v4 bool) func(*Settings, []string) error {
	return func(s *Settings, v []string) error {
		if one(v) == "" {
			*field(s) = netip.Addr{}
			return nil
		}
		a, err := netip.ParseAddr(one(v))
		switch {
		case err != nil && v4, err == nil && v4 && !a.Is4():
			return fmt.Errorf("%q is not an IPv4 address", one(v))
		case err != nil:
			return fmt.Errorf("%q is not an IP address", one(v))
		}
		*field(s) = a
		return nil
	}
}

// apply sets the option from a config file's or a flag's values. An empty
// value stands for the default, as an unset option does.
func (o *Option) apply(s *Settings, v []string) error {
	if !o.List && one(v) == "" {
		v = []string{o.Default}
	}
	return o.set(s, v)
}

// parseUDPTimeout reads the UDP timeout enforcement raises to: seconds,
// from RFC 4787's 120 to a day.
func parseUDPTimeout(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < enforce.MinUDPTimeout || n > 86400 {
		return 0, fmt.Errorf("%q: want seconds from %d (RFC 4787 REQ-5) to 86400", s, enforce.MinUDPTimeout)
	}
	return n, nil
}

// parsePinGrace reads how long a pin outlives its last flow: a duration
// ("30s") or seconds, up to an hour.
func parsePinGrace(s string) (time.Duration, error) {
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

// parsePinQuota reads the pins one LAN host may hold: 1 to 65535, or -1
// for no limit.
func parsePinQuota(s string) (int, error) {
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

// LoadConfig reads and checks a UCI config file: the defaults, then the
// file's options. Errors name the file and line, and say what is wrong in
// one line.
func LoadConfig(path string) (Settings, error) {
	f, err := os.Open(path)
	if err != nil {
		return Settings{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	secs, err := uci.Parse(f)
	if err != nil {
		return Settings{}, fmt.Errorf("config %s: %w", path, err)
	}
	s := DefaultSettings()
	if err := s.fromSections(secs); err != nil {
		return Settings{}, fmt.Errorf("config %s: %w", path, err)
	}
	return s, nil
}

func (s *Settings) fromSections(secs []*uci.Section) error {
	var found *uci.Section
	for _, sec := range secs {
		if sec.Type != "natp2p" {
			return fmt.Errorf("line %d: unknown section type %q (want natp2p)", sec.Line, sec.Type)
		}
		if found != nil {
			return fmt.Errorf("line %d: a second natp2p section (the first is at line %d)", sec.Line, found.Line)
		}
		found = sec
	}
	if found == nil {
		return fmt.Errorf("no `config natp2p` section")
	}
	for _, key := range sortedKeys(found.Options) {
		o := lookupOption(key)
		if o == nil {
			return fmt.Errorf("line %d: unknown option %q (known: %s)", found.Lines[key], key, knownOptions())
		}
		if err := o.apply(s, found.Options[key]); err != nil {
			return fmt.Errorf("line %d: option %s: %w", found.Lines[key], key, err)
		}
	}
	return nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// knownOptions lists the options' names, sorted.
func knownOptions() string {
	keys := make([]string, 0, len(Options))
	for _, o := range Options {
		keys = append(keys, o.Name)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// one is an option's value: the last one given, or "".
func one(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// setLAN sets the LAN devices: a UCI list, each item possibly several
// names separated by spaces (or commas, as on the command line).
func setLAN(s *Settings, v []string) error {
	s.LAN = nil
	for _, item := range v {
		for _, name := range strings.FieldsFunc(item, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if err := checkIface(name, false); err != nil {
				return err
			}
			s.LAN = append(s.LAN, name)
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
