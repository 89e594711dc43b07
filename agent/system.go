package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/natp2p/natp2p/report"
)

// System reads the router's state from procfs and sysfs. Its zero value
// reads /proc and /sys; tests and saved snapshots point it elsewhere.
type System struct {
	Proc     string // procfs mount; if empty, /proc
	Sys      string // sysfs mount; if empty, /sys
	FW4State string // fw4's state file; if empty, DefaultFW4State
}

func (s System) proc(p ...string) string {
	return filepath.Join(append([]string{or(s.Proc, "/proc")}, p...)...)
}
func (s System) sys(p ...string) string {
	return filepath.Join(append([]string{or(s.Sys, "/sys")}, p...)...)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Sysctls reads the named sysctls ("net.netfilter.nf_conntrack_udp_timeout");
// missing ones are left out, so their checks say UNKNOWN.
func (s System) Sysctls(names []string) map[string]int {
	out := make(map[string]int, len(names))
	for _, name := range names {
		b, err := os.ReadFile(s.proc(append([]string{"sys"}, strings.Split(name, ".")...)...))
		if err != nil {
			continue
		}
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out[name] = v
		}
	}
	return out
}

// SysctlBridgeNF is br_netfilter's switch: 1 when bridged IPv4 traffic
// passes the iptables and nftables hooks. It exists only while the module
// is loaded, and is per network namespace.
const SysctlBridgeNF = "net.bridge.bridge-nf-call-iptables"

// BridgeNetfilter reports whether bridged IPv4 traffic passes the
// iptables and nftables hooks (br_netfilter loaded, SysctlBridgeNF 1): a
// hairpinned packet between two ports of one bridge is then bridged, not
// routed, and a forward chain that drops LAN-to-LAN traffic drops all of
// it. known is false when it cannot be told (procfs unreadable).
func (s System) BridgeNetfilter() (on, known bool) {
	if _, err := os.Stat(s.proc("sys", "net", "bridge")); errors.Is(err, fs.ErrNotExist) {
		return false, true // br_netfilter not loaded
	}
	v, ok := s.Sysctls([]string{SysctlBridgeNF})[SysctlBridgeNF]
	return ok && v != 0, ok
}

// DefaultRouteInterface returns the interface of the IPv4 default route,
// from /proc/net/route.
func (s System) DefaultRouteInterface() (string, error) {
	ifs, err := s.defaultRouteInterfaces()
	if err != nil {
		return "", err
	}
	if len(ifs) == 0 {
		return "", errors.New("no IPv4 default route: name the WAN interface with --wan")
	}
	return ifs[0], nil
}

// Interface returns a named interface and its global unicast addresses.
func Interface(name string) (report.Interface, error) {
	prefixes, err := interfacePrefixes(name)
	if err != nil {
		return report.Interface{}, err
	}
	out := report.Interface{Name: name, Addrs: []netip.Addr{}}
	for _, p := range prefixes {
		out.Addrs = append(out.Addrs, p.Addr())
	}
	return out, nil
}

// interfacePrefixes returns a named interface's global unicast addresses,
// each with its prefix length.
func interfacePrefixes(name string) ([]netip.Prefix, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q not found (ip link lists the interfaces)", name)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("addresses of %q: %w", name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsGlobalUnicast() {
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()))
		}
	}
	return out, nil
}

func hasIPv4(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if a.Is4() {
			return true
		}
	}
	return false
}

// payloadHelpers are the conntrack NAT helpers that rewrite payloads.
var payloadHelpers = []string{"nf_nat_sip", "nf_nat_h323", "nf_nat_pptp", "nf_nat_irc",
	"nf_nat_ftp", "nf_nat_tftp", "nf_nat_amanda", "nf_nat_snmp_basic"}

// NATHelpers returns the loaded payload-rewriting NAT helpers, from
// /proc/modules and, for built-in ones, /sys/module. It returns nil when
// neither can be read.
func (s System) NATHelpers() []string {
	mods, err := os.ReadFile(s.proc("modules"))
	_, sysErr := os.Stat(s.sys("module"))
	if err != nil && sysErr != nil {
		return nil
	}
	loaded := map[string]bool{}
	for _, line := range strings.Split(string(mods), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			loaded[f[0]] = true
		}
	}
	out := []string{}
	for _, h := range payloadHelpers {
		if _, err := os.Stat(s.sys("module", h)); loaded[h] || err == nil {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

// sysctlRW reads and writes integer sysctls under the System's procfs, for
// enforcement (enforce.Sysctl).
type sysctlRW struct{ s System }

func (rw sysctlRW) path(name string) string {
	return rw.s.proc(append([]string{"sys"}, strings.Split(name, ".")...)...)
}

func (rw sysctlRW) Get(name string) (int, error) {
	b, err := os.ReadFile(rw.path(name))
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", name, err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("sysctl %s: %w", name, err)
	}
	return v, nil
}

func (rw sysctlRW) Set(name string, v int) error {
	if err := os.WriteFile(rw.path(name), []byte(strconv.Itoa(v)), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s: %w", name, err)
	}
	return nil
}

// LANPrefixes returns the IPv4 networks of the named interfaces: the
// sources whose flows a LAN-wide rule covers (hairpinning, preserve_ports).
func LANPrefixes(names []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, name := range names {
		prefixes, err := interfacePrefixes(name)
		if err != nil {
			return nil, err
		}
		for _, p := range prefixes {
			if p = p.Masked(); p.Addr().Is4() && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no IPv4 network on the LAN interfaces %v", names)
	}
	return out, nil
}
