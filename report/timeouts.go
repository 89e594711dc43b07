package report

import (
	"fmt"
	"strings"

	"github.com/natp2p/natp2p/enforce/status"
)

// The conntrack sysctls the timeout checks read, by full name.
const (
	SysctlUDPTimeout       = "net.netfilter.nf_conntrack_udp_timeout"
	SysctlUDPTimeoutStream = "net.netfilter.nf_conntrack_udp_timeout_stream"
	SysctlTCPEstablished   = "net.netfilter.nf_conntrack_tcp_timeout_established"
)

// TransitorySysctls are the TCP states RFC 5382 REQ-5 calls transitory
// (enforce mode raises the same list).
var TransitorySysctls = status.TCPTransitory

// Sysctls lists every sysctl the report reads.
func Sysctls() []string {
	return append([]string{SysctlUDPTimeout, SysctlUDPTimeoutStream, SysctlTCPEstablished}, TransitorySysctls...)
}

// Thresholds from RFC 4787 REQ-5 and RFC 5382 REQ-5, in seconds.
const (
	minUDPTimeout         = 120  // MUST NOT expire in less than two minutes
	recommendedUDPTimeout = 300  // RECOMMENDED five minutes
	minTCPEstablished     = 7440 // two hours and four minutes
	minTCPTransitory      = 240  // four minutes
)

func short(name string) string { return strings.TrimPrefix(name, "net.netfilter.nf_conntrack_") }

func udpTimeoutCheck(sys map[string]int) Check {
	un, ok1 := sys[SysctlUDPTimeout]
	st, ok2 := sys[SysctlUDPTimeoutStream]
	if !ok1 || !ok2 {
		return check(IDTimeoutUDP, Unknown, nil, "could not read the conntrack UDP timeouts")
	}
	ev := []string{fmt.Sprintf("%s = %d s, %s = %d s", short(SysctlUDPTimeout), un, short(SysctlUDPTimeoutStream), st)}
	lo := min(un, st)
	switch {
	case lo < minUDPTimeout:
		return check(IDTimeoutUDP, Fail, ev, "UDP mappings can expire after %d s, under RFC 4787's %d s", lo, minUDPTimeout)
	case lo < recommendedUDPTimeout:
		return check(IDTimeoutUDP, Warn, ev, "UDP mappings live %d s, under the %d s RFC 4787 recommends", lo, recommendedUDPTimeout)
	}
	return check(IDTimeoutUDP, Pass, ev, "UDP mappings live at least %d s", lo)
}

func tcpTimeoutCheck(sys map[string]int) Check {
	est, ok := sys[SysctlTCPEstablished]
	if !ok {
		return check(IDTimeoutTCP, Unknown, nil, "could not read the conntrack TCP timeout")
	}
	ev := []string{fmt.Sprintf("%s = %d s", short(SysctlTCPEstablished), est)}
	if est < minTCPEstablished {
		return check(IDTimeoutTCP, Fail, ev, "established TCP mappings can expire after %d s, under RFC 5382's %d s", est, minTCPEstablished)
	}
	return check(IDTimeoutTCP, Pass, ev, "established TCP mappings live %d s", est)
}

func transitoryCheck(sys map[string]int) Check {
	var low []string
	for _, name := range TransitorySysctls {
		v, ok := sys[name]
		if !ok {
			return check(IDTimeoutTCPTrans, Unknown, nil, "could not read %s", name)
		}
		if v < minTCPTransitory {
			low = append(low, fmt.Sprintf("%s = %d s", short(name), v))
		}
	}
	if len(low) > 0 {
		return check(IDTimeoutTCPTrans, Fail, limit(low), "%d transitory TCP states time out under RFC 5382's %d s", len(low), minTCPTransitory)
	}
	return check(IDTimeoutTCPTrans, Pass, nil, "every transitory TCP state lives at least %d s", minTCPTransitory)
}

func limit(lines []string) []string {
	if lines == nil {
		return []string{} // the JSON says [], never null
	}
	if len(lines) > MaxEvidence {
		return lines[:MaxEvidence]
	}
	return lines
}
