package probe

import (
	"net/netip"
	"time"
)

// Schema names the probe report's JSON version.
const Schema = "natp2p.probe/v1"

// Behaviour is a mapping or filtering behaviour in RFC 4787 terms.
type Behaviour string

// The behaviours, as RFC 4787 section 4.1 and 5 name them.
const (
	EndpointIndependent     Behaviour = "endpoint-independent"
	AddressDependent        Behaviour = "address-dependent"
	AddressAndPortDependent Behaviour = "address-and-port-dependent"
	Unknown                 Behaviour = "unknown"
)

// Report is what a probe found. Tri-state fields are nil when the test
// could not run (the server lacks RFC 5780, no answer at all, ...).
type Report struct {
	Schema      string         `json:"schema"`
	GeneratedAt time.Time      `json:"generated_at"`
	Introducer  netip.AddrPort `json:"introducer"`
	// Other is the introducer's alternate address and port (OTHER-ADDRESS,
	// or CHANGED-ADDRESS from an RFC 3489 server); invalid without RFC 5780.
	Other  netip.AddrPort `json:"other,omitempty"`
	Local  netip.AddrPort `json:"local"`  // the mapping test's socket
	Public netip.AddrPort `json:"public"` // what the introducer saw of it

	Mapping          Behaviour `json:"mapping"`
	Filtering        Behaviour `json:"filtering"`
	TCPMapping       Behaviour `json:"tcp_mapping"`
	Hairpin          *bool     `json:"hairpin"`
	PortPreservation *bool     `json:"port_preservation"`
	ALG              *bool     `json:"alg"` // a NAT rewrote MAPPED-ADDRESS in the payload
	NAT              *bool     `json:"nat"` // the public address differs from the local one

	// TCPUnsolicited is what the NAT did with the introducer's unsolicited
	// SYN to a live TCP mapping; P2PUDP and P2PTCP whether hole punching
	// with the introducer's peer brought a direct session up (nil: not
	// tried). Older reports lack them.
	TCPUnsolicited Unsolicited `json:"tcp_unsolicited,omitempty"`
	P2PUDP         *bool       `json:"p2p_udp"`
	P2PTCP         *bool       `json:"p2p_tcp"`

	// UpstreamNAT and Layers are known when the probe also ran from the
	// router's WAN address (see Attribute): whether a NAT lies beyond the
	// router, and which layer shows which behaviour.
	UpstreamNAT *bool   `json:"upstream_nat"`
	Layers      []Layer `json:"layers"`

	// Lifetime is the idle UDP mapping's lifetime, when asked for
	// (RFC 5780 4.6); nil otherwise.
	Lifetime *Lifetime `json:"lifetime,omitempty"`

	Tests    []Test        `json:"tests"` // every exchange, for evidence
	Duration time.Duration `json:"duration_ns"`
}

// Test is one exchange of a probe and what came back.
type Test struct {
	// Not comparable: the compiler then makes no equality functions for
	// Test and the arrays behind []Test literals (3 KB of mipsle code).
	_ [0]func()

	Name   string         `json:"name"`
	Proto  string         `json:"proto"` // "udp" or "tcp"
	Local  netip.AddrPort `json:"local"`
	To     netip.AddrPort `json:"to"`
	Change string         `json:"change,omitempty"` // "ip", "port", "ip+port"
	// Answered says whether a response came; From is where it came from
	// and Mapped what the server saw.
	Answered bool           `json:"answered"`
	From     netip.AddrPort `json:"from,omitempty"`
	Mapped   netip.AddrPort `json:"mapped,omitempty"`
	Error    string         `json:"error,omitempty"`
	// Note says what else the exchange showed (an unsolicited SYN's fate).
	Note string `json:"note,omitempty"`
}

func ptr(b bool) *bool { return &b }
