//go:build linux

package enforce

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/natp2p/natp2p/conntrackmap"
)

func randomNAT(lines []string, wan string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, "-A ") || strings.HasPrefix(l, "-A NATP2P_") {
			continue
		}
		f := strings.Fields(l)
		snat := slices.Contains(f, "SNAT") || slices.Contains(f, "MASQUERADE")
		random := slices.Contains(f, "--random") || slices.Contains(f, "--random-fully")
		// No -o: every interface, the WAN too. "! -o WAN" is not the WAN.
		i := slices.Index(f, "-o")
		toWAN := i < 0 || i+1 < len(f) && f[i+1] == wan && (i == 0 || f[i-1] != "!")
		if snat && random && toWAN {
			return true
		}
	}
	return false
}

// parsePinRule reads a pin from an SNAT rule of NATP2P_POST as iptables -S
// prints it, on output to oif, with the hairpin conntrack match or without
// as dnat says:
//
//	-A NATP2P_POST -s 10.0.0.1/32 -o wan0 -p udp -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000
//	-A NATP2P_POST -s 10.0.0.1/32 -o br-lan -p udp -m conntrack --ctstate DNAT -m udp --sport 5000 -j SNAT --to-source 203.0.113.1:40000
//
// Any other option (a negation, another match) makes it no pin rule.
func parsePinRule(line, oif string, dnat bool) (Pin, bool) {
	f := strings.Fields(line)
	if len(f)%2 != 0 {
		return Pin{}, false
	}
	r := pinRule{oif: oif}
	for i := 0; i < len(f) && r.err == nil; i += 2 {
		if !r.option(f[i], f[i+1]) {
			return Pin{}, false
		}
	}
	p := r.pin
	if r.err != nil || r.seen != pinRuleAll || r.match != "" && r.match != p.Proto.String() || r.ct != dnat || r.state != dnat {
		return Pin{}, false
	}
	p.Private = netip.AddrPortFrom(r.src, uint16(r.sport))
	if !p.valid() {
		return Pin{}, false
	}
	return p, true
}

// pinRule is what parsePinRule read of a rule so far.
type pinRule struct {
	oif       string // the output interface a pin rule has
	pin       Pin    // its protocol and public endpoint
	src       netip.Addr
	sport     uint64
	match     string // -m, other than conntrack
	ct, state bool   // -m conntrack, --ctstate DNAT
	seen      int    // the bits of the options every pin rule has
	err       error
}

// pinRuleAll: every option a pin rule has, seen with the value it must
// have (-A, -o, -s, -p, --sport, -j, --to-source).
const pinRuleAll = 0x7f

// option reads one option and its value: false for an option no pin rule
// has.
func (r *pinRule) option(k, v string) bool {
	switch k {
	case "-A":
		r.seen |= bitIf(v == IPTPost || iptTreeChain(v) && v[7] == 'S', 1)
	case "-o":
		r.seen |= bitIf(v == r.oif, 2)
	case "-s":
		var pfx netip.Prefix
		if pfx, r.err = netip.ParsePrefix(v); r.err == nil && pfx.IsSingleIP() {
			r.src, r.seen = pfx.Addr(), r.seen|4
		}
	case "-p":
		r.proto(v)
	case "-m":
		if v == "conntrack" {
			r.ct = true
		} else {
			r.match = v
		}
	case "--ctstate":
		r.state = v == "DNAT"
	case "--sport":
		r.sport, r.err = strconv.ParseUint(v, 10, 16)
		r.seen |= 16
	case "-j":
		r.seen |= bitIf(v == "SNAT", 32)
	case "--to-source":
		r.pin.Public, r.err = netip.ParseAddrPort(v)
		r.seen |= 64
	default:
		return false
	}
	return true
}

func (r *pinRule) proto(v string) {
	switch v {
	case "udp":
		r.pin.Proto, r.seen = conntrackmap.UDP, r.seen|8
	case "tcp":
		r.pin.Proto, r.seen = conntrackmap.TCP, r.seen|8
	}
}

func bitIf(ok bool, bit int) int {
	if ok {
		return bit
	}
	return 0
}
