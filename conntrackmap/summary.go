package conntrackmap

import "time"

// ProtoSummary describes one protocol's mappings. Live figures describe the
// table now; Seen figures count detections since the table was made.
type ProtoSummary struct {
	Flows        int `json:"flows"`        // live flows
	Mappings     int `json:"mappings"`     // live private endpoints
	Preserved    int `json:"preserved"`    // live mappings whose public port is the private port
	Inconsistent int `json:"inconsistent"` // live private endpoints behind two or more public endpoints
	Overloaded   int `json:"overloaded"`   // live public endpoints used by two or more private endpoints

	SeenReused            uint64 `json:"seen_reused"`             // flows that joined a live mapping with its public endpoint
	SeenInconsistent      uint64 `json:"seen_inconsistent"`       // flows that got a second public endpoint
	SeenPortDependent     uint64 `json:"seen_port_dependent"`     // of those, to a remote address already in use
	SeenPreservationBroke uint64 `json:"seen_preservation_broke"` // of those, where port preservation was involved
	SeenOverloaded        uint64 `json:"seen_overloaded"`         // flows that landed on a public endpoint of another private endpoint
}

// Summary is what the checks need from the table: plain data, safe to keep.
type Summary struct {
	Since time.Time    `json:"since"`
	UDP   ProtoSummary `json:"udp"`
	TCP   ProtoSummary `json:"tcp"`

	Hosts        int    `json:"hosts"`         // live private hosts
	PublicAddrs  int    `json:"public_addrs"`  // distinct public addresses in use
	Unpaired     int    `json:"unpaired"`      // live hosts behind two or more public addresses
	SeenUnpaired uint64 `json:"seen_unpaired"` // flows that gave a host a second public address
	Ignored      uint64 `json:"ignored"`       // flows not source-NATed or not UDP/TCP

	// Hairpin counts hairpinned flows.
	Hairpin HairpinSummary `json:"hairpin"`

	// Violations holds recent evidence, newest first, at most
	// Config.Evidence of each kind.
	Violations []Violation `json:"-"`
	// Hairpins holds hairpinned flows: the newest live ones, at most
	// Config.Evidence, then the last Config.Evidence that ended, each
	// newest first.
	Hairpins []HairpinFlow `json:"-"`
}

// Proto returns the summary of one protocol (TCP or UDP).
func (s *Summary) Proto(p Proto) *ProtoSummary {
	if p == TCP {
		return &s.TCP
	}
	return &s.UDP
}

// Of returns the recent violations of one kind and protocol, newest first.
// A zero proto matches both protocols.
func (s *Summary) Of(k Kind, p Proto) []Violation {
	var out []Violation
	for _, v := range s.Violations {
		if v.Kind == k && (p == 0 || v.Proto == p) {
			out = append(out, v)
		}
	}
	return out
}
