package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/natp2p/natp2p/report"
)

// DefaultFW4State is where OpenWrt's fw4 keeps the firewall state it
// loaded: its zones and their devices.
const DefaultFW4State = "/var/run/fw4.state"

// LANInterfaces returns the interfaces that are up, not loopback, not the
// WAN, have an IPv4 address and are no uplink: the sides a LAN host can
// stand on. Uplinks are left out, each with the reason (uplinkReason), so
// that hairpinning never serves an interface facing the internet.
func (s System) LANInterfaces(wan string) (lan []report.Interface, uplinks map[string]string) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, nil
	}
	defaults, _ := s.defaultRouteInterfaces()
	zones := s.fw4WANDevices()
	for _, ifi := range ifs {
		if ifi.Name == wan || ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		i, err := Interface(ifi.Name)
		if err != nil || !hasIPv4(i.Addrs) {
			continue
		}
		if why := uplinkReason(i, defaults, zones); why != "" {
			if uplinks == nil {
				uplinks = map[string]string{}
			}
			uplinks[i.Name] = why
			continue
		}
		lan = append(lan, i)
	}
	return lan, uplinks
}

// uplinkReason says why i is an uplink, or "" when it is none: a default
// route through it, an address the internet routes or a carrier's shared
// one (100.64.0.0/10), or a place in one of fw4's masquerading zones
// (OpenWrt's wan).
func uplinkReason(i report.Interface, defaults, fw4WAN []string) string {
	if slices.Contains(defaults, i.Name) {
		return "a default route goes through it"
	}
	for _, a := range i.Addrs {
		if a.Is4() && (shared.Contains(a) || routable(a)) {
			return fmt.Sprintf("its address %v is a public or shared one", a)
		}
	}
	for _, d := range fw4WAN {
		if d == i.Name || strings.HasSuffix(d, "*") && strings.HasPrefix(i.Name, strings.TrimSuffix(d, "*")) {
			return "fw4 puts it in a masquerading zone (wan)"
		}
	}
	return ""
}

// shared is RFC 6598's shared address space, a carrier's side of CGNAT.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// notRoutable are the IPv4 special-purpose blocks the internet does not
// route (RFC 6890) besides private and shared ones: an address in them
// is no sign of an uplink. The documentation blocks (RFC 5737), which
// labs and examples use, are among them.
var notRoutable = []netip.Prefix{
	netip.MustParsePrefix("192.0.0.0/24"), netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("240.0.0.0/4"),
}

// routable reports whether the internet routes a, an IPv4 address: a
// public one.
func routable(a netip.Addr) bool {
	if !a.Is4() || !a.IsGlobalUnicast() || a.IsPrivate() || shared.Contains(a) {
		return false
	}
	for _, p := range notRoutable {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// defaultRouteInterfaces returns every interface with an IPv4 default
// route in the main table, from /proc/net/route, in its order.
func (s System) defaultRouteInterfaces() ([]string, error) {
	f, err := os.Open(s.proc("net", "route"))
	if err != nil {
		return nil, fmt.Errorf("read the routing table: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		fields := strings.Fields(sc.Text())
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" && !slices.Contains(out, fields[0]) {
			out = append(out, fields[0])
		}
	}
	return out, sc.Err()
}

// fw4State is what natp2p reads of fw4's state file.
type fw4State struct {
	Zones []struct {
		Name         string   `json:"name"`
		Masq         bool     `json:"masq"`
		MatchDevices []string `json:"match_devices"`
	} `json:"zones"`
}

// fw4WANDevices returns the devices of fw4's masquerading zones and of its
// zone named wan (a trailing * or + is a wildcard, as in fw4, returned
// with *); none without fw4.
func (s System) fw4WANDevices() []string {
	b, err := os.ReadFile(or(s.FW4State, DefaultFW4State))
	if err != nil {
		return nil
	}
	var st fw4State
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	var out []string
	for _, z := range st.Zones {
		if z.Masq || z.Name == "wan" {
			for _, d := range z.MatchDevices {
				if strings.HasSuffix(d, "+") {
					d = strings.TrimSuffix(d, "+") + "*"
				}
				out = append(out, d)
			}
		}
	}
	return out
}

// checkWANNotLAN: the WAN named among the LAN interfaces would have
// hairpinning DNAT what arrives from the internet.
func checkWANNotLAN(wan string, lan []string) error {
	if wan != "" && slices.Contains(lan, wan) {
		return fmt.Errorf("the WAN %s is among the LAN interfaces (lan): hairpinning would serve the internet; take it out", wan)
	}
	return nil
}

// Check reports what no single option shows wrong: the WAN among the LAN
// interfaces. check-config runs it; so does the daemon, once it knows the
// WAN.
func (s *Settings) Check() error { return checkWANNotLAN(s.WAN, s.LAN) }
