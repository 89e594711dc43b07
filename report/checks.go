package report

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
)

// The check IDs of DESIGN.md, in report order.
const (
	IDMappingUDP       = "mapping.udp"
	IDMappingTCP       = "mapping.tcp"
	IDPortPreservation = "port.preservation"
	IDPortOverloading  = "port.overloading"
	IDPoolPaired       = "pool.paired"
	IDHairpin          = "hairpin"
	IDTimeoutUDP       = "timeout.udp"
	IDTimeoutTCP       = "timeout.tcp"
	IDTimeoutTCPTrans  = "timeout.tcp.transitory"
	IDFiltering        = "filtering"
	IDUpstreamNAT      = "upstream.nat"
	IDMappingStable    = "mapping.stable"
	IDTCPUnsolicited   = "tcp.unsolicited"
	IDALG              = "alg"
)

// MaxEvidence is how many evidence lines a check shows.
const MaxEvidence = 3

// Input is what Build evaluates.
type Input struct {
	Now     time.Time
	Host    string
	Source  string // SourceDaemon or SourceSnapshot
	Table   conntrackmap.Summary
	Sysctls map[string]int // conntrack sysctls by full name; a missing one makes its check UNKNOWN
	WAN     []Interface
	LAN     []Interface
	// NATHelpers are the loaded conntrack NAT helpers that rewrite payloads
	// (nf_nat_sip, ...). Nil means they could not be read.
	NATHelpers []string
	Conntrack  *SourceStats
	// Probe and UpstreamProbe are the daemon's latest probes from the LAN
	// side and from the WAN address; nil when it does not probe.
	Probe, UpstreamProbe *ProbeResult
	// Enforcement is what enforce mode did; nil in observe mode.
	Enforcement *Enforcement
	// BridgeNFCallIptables is net.bridge.bridge-nf-call-iptables, nil when
	// br_netfilter is not loaded (the key is missing) or it was not read.
	// 1 makes bridged IPv4 packets, hairpinned ones among them, pass the
	// ip hooks as bridged traffic: a cause the hairpin check can name.
	BridgeNFCallIptables *int
}

// Build evaluates every check.
func Build(in Input) Report {
	s := &in.Table
	r := Report{Schema: Schema, GeneratedAt: in.Now.UTC(), Host: in.Host, Source: in.Source,
		Since: s.Since.UTC(), WAN: nonNil(in.WAN), LAN: nonNil(in.LAN), Sysctls: in.Sysctls,
		Mappings: Counts{UDP: s.UDP.Mappings, TCP: s.TCP.Mappings},
		Flows:    Counts{UDP: s.UDP.Flows, TCP: s.TCP.Flows}, Conntrack: in.Conntrack}
	if r.Sysctls == nil {
		r.Sysctls = map[string]int{}
	}
	if in.Probe != nil || in.UpstreamProbe != nil {
		r.Probe = &Probes{LAN: in.Probe, WAN: in.UpstreamProbe}
	}
	r.Checks = enforced([]Check{
		mappingCheck(IDMappingUDP, conntrackmap.UDP, s),
		mappingCheck(IDMappingTCP, conntrackmap.TCP, s),
		preservationCheck(s),
		overloadingCheck(s),
		poolCheck(s),
		hairpinCheck(&in),
		udpTimeoutCheck(in.Sysctls),
		tcpTimeoutCheck(in.Sysctls),
		transitoryCheck(in.Sysctls),
		filteringCheck(&in),
		upstreamFromProbe(upstreamCheck(in.WAN), &in),
		check(IDMappingStable, Unknown, nil, "not tracked in observe mode: needs enforce mode"),
		unsolicitedCheck(&in),
		algCheck(in.NATHelpers),
		punchCheck(IDP2PUDP, &in),
		punchCheck(IDP2PTCP, &in),
	}, &in)
	// The probe has the last word on mappings: it can contradict
	// conntrack and enforcement alike.
	r.Checks[0] = withProbe(r.Checks[0], "udp", &in)
	r.Checks[1] = withProbe(r.Checks[1], "tcp", &in)
	r.Enforcement = in.Enforcement
	return r
}

// nonNil makes absent lists encode as [] rather than null.
func nonNil(ifs []Interface) []Interface {
	out := make([]Interface, len(ifs))
	for i, f := range ifs {
		out[i] = f
		if f.Addrs == nil {
			out[i].Addrs = []netip.Addr{}
		}
	}
	return out
}

// plural writes "1 session", "2 sessions".
func plural[N int | uint64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func check(id string, v Verdict, evidence []string, format string, args ...any) Check {
	if evidence == nil {
		evidence = []string{}
	}
	return Check{ID: id, Verdict: v, Summary: fmt.Sprintf(format, args...), Evidence: evidence}
}

func needsProbe(id, what string) Check {
	return check(id, Unknown, nil, "not measured: %s needs a probe from outside", what)
}

func mappingCheck(id string, p conntrackmap.Proto, s *conntrackmap.Summary) Check {
	ps := s.Proto(p)
	if ps.Inconsistent > 0 || ps.SeenInconsistent > 0 {
		behaviour := "address-dependent"
		if ps.SeenPortDependent > 0 {
			behaviour = "address-and-port-dependent"
		}
		return check(id, Fail, evidence(s.Of(conntrackmap.KindMapping, p)),
			"%s mapping: %s got a second public endpoint (%s now)",
			behaviour, plural(ps.SeenInconsistent, "session"), plural(ps.Inconsistent, "endpoint"))
	}
	switch {
	case ps.Mappings == 0 && ps.SeenReused == 0:
		return check(id, Unknown, nil, "no source-NATed %s flows seen yet", p)
	case ps.SeenReused == 0:
		return check(id, Unknown, nil, "%s, none used for a second destination yet", plural(ps.Mappings, p.String()+" mapping"))
	}
	return check(id, Pass, nil, "endpoint-independent so far: %s reused a live public mapping, none got another",
		plural(ps.SeenReused, "session"))
}

func preservationCheck(s *conntrackmap.Summary) Check {
	broke := s.UDP.SeenPreservationBroke + s.TCP.SeenPreservationBroke
	if broke > 0 {
		var vs []conntrackmap.Violation
		for _, v := range s.Of(conntrackmap.KindMapping, 0) {
			if v.Preserving() {
				vs = append(vs, v)
			}
		}
		return check(IDPortPreservation, Fail, evidence(vs), "preserving ports broke %s", plural(broke, "consistent mapping"))
	}
	n, kept := s.UDP.Mappings+s.TCP.Mappings, s.UDP.Preserved+s.TCP.Preserved
	if n == 0 {
		return check(IDPortPreservation, Unknown, nil, "no mappings yet")
	}
	return check(IDPortPreservation, Pass, nil, "%d of %s kept their private port, none at the cost of consistency", kept, plural(n, "mapping"))
}

func overloadingCheck(s *conntrackmap.Summary) Check {
	now, seen := s.UDP.Overloaded+s.TCP.Overloaded, s.UDP.SeenOverloaded+s.TCP.SeenOverloaded
	if now > 0 || seen > 0 {
		return check(IDPortOverloading, Fail, evidence(s.Of(conntrackmap.KindOverloading, 0)),
			"%s landed on another endpoint's public port (%s now)", plural(seen, "session"), plural(now, "shared port"))
	}
	if n := s.UDP.Mappings + s.TCP.Mappings; n > 0 {
		return check(IDPortOverloading, Pass, nil, "no public port shared by two private endpoints (%s)", plural(n, "mapping"))
	}
	return check(IDPortOverloading, Unknown, nil, "no mappings yet")
}

func poolCheck(s *conntrackmap.Summary) Check {
	if s.Unpaired > 0 || s.SeenUnpaired > 0 {
		return check(IDPoolPaired, Fail, evidence(s.Of(conntrackmap.KindPooling, 0)),
			"%s put a host behind a second public address (%s now)", plural(s.SeenUnpaired, "session"), plural(s.Unpaired, "host"))
	}
	switch {
	case s.Hosts == 0:
		return check(IDPoolPaired, Unknown, nil, "no mappings yet")
	case s.PublicAddrs <= 1:
		return check(IDPoolPaired, Pass, nil, "one public address: every host is paired with it")
	}
	return check(IDPoolPaired, Pass, nil, "%s over %d public addresses, each on one", plural(s.Hosts, "host"), s.PublicAddrs)
}

// evidence formats up to MaxEvidence violations.
func evidence(vs []conntrackmap.Violation) []string {
	out := []string{}
	for _, v := range vs {
		if len(out) == MaxEvidence {
			break
		}
		out = append(out, FormatViolation(v))
	}
	return out
}

// FormatViolation writes a violation as one evidence line.
func FormatViolation(v conntrackmap.Violation) string {
	switch v.Kind {
	case conntrackmap.KindOverloading:
		return fmt.Sprintf("%s/%s shared by %s (to %s) and %s (to %s)",
			v.B.Public, v.Proto, v.A.Private, v.A.Remote, v.B.Private, v.B.Remote)
	case conntrackmap.KindPooling:
		return fmt.Sprintf("%s/%s -> %s (to %s) and %s (to %s)",
			v.B.Private.Addr(), v.Proto, v.A.Public.Addr(), v.A.Remote.Addr(), v.B.Public.Addr(), v.B.Remote)
	}
	return fmt.Sprintf("%s/%s -> %s (to %s) and %s (to %s)",
		v.B.Private, v.Proto, v.A.Public, v.A.Remote, v.B.Public, v.B.Remote)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func upstreamCheck(wan []Interface) Check {
	var addrs []netip.Addr
	for _, w := range wan {
		addrs = append(addrs, w.Addrs...)
	}
	for _, a := range addrs {
		switch {
		case cgnat.Contains(a):
			return check(IDUpstreamNAT, Warn, []string{"WAN address " + a.String()},
				"carrier-grade NAT upstream: WAN address %s is in 100.64.0.0/10", a)
		case a.Is4() && a.IsPrivate():
			return check(IDUpstreamNAT, Warn, []string{"WAN address " + a.String()},
				"NAT upstream: WAN address %s is private", a)
		}
	}
	if len(addrs) == 0 {
		return check(IDUpstreamNAT, Unknown, nil, "no WAN address known (set --wan)")
	}
	return check(IDUpstreamNAT, Pass, nil, "WAN address %s is public (a probe can confirm)", addrs[0])
}

func algCheck(helpers []string) Check {
	switch {
	case helpers == nil:
		return check(IDALG, Unknown, nil, "could not read the loaded kernel modules")
	case len(helpers) == 0:
		return check(IDALG, Pass, nil, "no payload-rewriting NAT helpers loaded")
	}
	return check(IDALG, Warn, limit(helpers), "%s that rewrite payloads loaded (RFC 4787 REQ-10)", plural(len(helpers), "NAT helper"))
}
