package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce/status"
)

// Enforcement is the report's "enforcement" object, present in enforce
// mode: which enforcements are on, and what they did.
type Enforcement struct {
	Mode     string `json:"mode"` // "enforce"
	Mapping  bool   `json:"mapping"`
	Hairpin  bool   `json:"hairpin"`
	Timeouts bool   `json:"timeouts"`
	// PreservePorts: natp2p masquerades LAN flows without a pin itself,
	// keeping their ports (iptables backend).
	PreservePorts bool `json:"preserve_ports"`
	status.Status
}

// rulesLine says what holds the pins, for evidence.
func (e *Enforcement) rulesLine() string {
	s := fmt.Sprintf("enforced by natp2p (%s): %s", e.Backend, plural(e.Pins, "pin"))
	if e.Moved > 0 {
		s += fmt.Sprintf(", %s moved off another's port", plural(e.Moved, "endpoint"))
	}
	if e.Repaired > 0 {
		s += fmt.Sprintf(", %s translated again onto its pin", plural(e.Repaired, "flow"))
	}
	return s
}

// broken says why enforcement is not in force, or "".
func (e *Enforcement) broken() string {
	switch {
	case e.Error != "" && !e.Installed:
		return "enforcement failed: " + e.Error
	case !e.Installed:
		return "enforcement rules are not in place"
	}
	return ""
}

// enforced rewrites the checks enforce mode acts on. Under enforcement the
// kernel's present state is what counts: a session that got a second
// public endpoint before its pin was in place was translated again, so
// the history stays as evidence but no longer fails the check, while a
// live disagreement still does.
func enforced(cs []Check, in *Input) []Check {
	e := in.Enforcement
	if e == nil {
		return cs
	}
	for i := range cs {
		c := &cs[i]
		switch c.ID {
		case IDMappingUDP, IDMappingTCP:
			if e.Mapping {
				p := conntrackmap.UDP
				if c.ID == IDMappingTCP {
					p = conntrackmap.TCP
				}
				*c = enforcedMapping(*c, in.Table.Proto(p), e)
			}
		case IDPortOverloading:
			if e.Mapping {
				*c = enforcedOverloading(*c, &in.Table, e)
			}
		case IDHairpin:
			if e.Hairpin {
				*c = enforcedHairpin(e, in)
			}
		case IDTimeoutUDP, IDTimeoutTCP, IDTimeoutTCPTrans:
			c.Evidence = limit(append(raisedLines(c.ID, e), c.Evidence...))
		case IDMappingStable:
			if e.Mapping {
				*c = stableCheck(e, in.Now)
			}
		}
	}
	return cs
}

// enforcedMapping passes on evidence only: a session that reused a live
// mapping for another destination (or, later, the probe's view).
func enforcedMapping(c Check, ps *conntrackmap.ProtoSummary, e *Enforcement) Check {
	if why := e.broken(); why != "" {
		c.Verdict, c.Summary = Fail, why
		return c
	}
	ev := append([]string{e.rulesLine()}, c.Evidence...)
	if ps.Inconsistent > 0 {
		return check(c.ID, Fail, limit(ev), "the kernel still disagrees: %s with a second public endpoint despite the pins",
			plural(ps.Inconsistent, "endpoint"))
	}
	v, summary := Pass, fmt.Sprintf("endpoint-independent: enforced by pins, and seen: %s reused a live public mapping",
		plural(ps.SeenReused, "session"))
	if ps.SeenReused == 0 {
		v, summary = Unknown, "enforced by pins, not yet seen working: no endpoint has used its mapping for a second destination yet"
	}
	if ps.SeenInconsistent > 0 {
		summary += fmt.Sprintf(" (%s got a second public endpoint before its pin was in place)", plural(ps.SeenInconsistent, "session"))
	}
	if e.RandomNAT {
		// Conntrack shows the repaired flows; clients that send to a second
		// server at once (RFC 5780 tests, ICE) see the random port.
		return check(c.ID, Warn, limit(ev), "%s; but the router's NAT picks ports fully at random and the %s backend "+
			"pins after an endpoint's first packet, so a second destination reached within milliseconds gets another "+
			"port (set preserve_ports)", summary, e.Backend)
	}
	return check(c.ID, v, limit(ev), "%s", summary)
}

// enforcedOverloading passes on evidence only: live mappings, none of
// them sharing a public port.
func enforcedOverloading(c Check, s *conntrackmap.Summary, e *Enforcement) Check {
	if why := e.broken(); why != "" {
		c.Verdict, c.Summary = Fail, why
		return c
	}
	if now := s.UDP.Overloaded + s.TCP.Overloaded; now > 0 {
		c.Summary = fmt.Sprintf("the kernel still shares %s between private endpoints despite the pins", plural(now, "public port"))
		return c
	}
	ev := append([]string{e.rulesLine()}, c.Evidence...)
	if n := s.UDP.Mappings + s.TCP.Mappings; n > 0 {
		return check(c.ID, Pass, limit(ev), "pinned public ports are reserved: none shared now (%s)", plural(n, "mapping"))
	}
	return check(c.ID, Unknown, limit(ev), "pinned public ports are reserved, not yet seen: no mappings now")
}

// recentError is how long an enforcement error keeps mapping.stable at
// WARN.
const recentError = 10 * time.Minute

func stableCheck(e *Enforcement, now time.Time) Check {
	if why := e.broken(); why != "" {
		return check(IDMappingStable, Fail, nil, "%s", why)
	}
	ev := []string{e.rulesLine()}
	if e.Error != "" && e.ErrorAt != nil && now.Sub(*e.ErrorAt) < recentError {
		ev = append(ev, fmt.Sprintf("%s ago: %s", now.Sub(*e.ErrorAt).Round(time.Second), e.Error))
		return check(IDMappingStable, Warn, limit(ev), "enforcement failed recently; the rules were put back")
	}
	if e.Reinstalls > 0 {
		ev = append(ev, fmt.Sprintf("rules put back %s after a firewall reload or flush", plural(e.Reinstalls, "time")))
	}
	if len(e.QuotaFull) > 0 {
		ev = append(ev, fmt.Sprintf("at their pin quota: %s (%s left unpinned)", joinAddrs(e.QuotaFull), plural(e.QuotaHits, "flow")))
	}
	ev = append(ev, refusedLines(e)...)
	if e.PressureHits > 0 {
		return check(IDMappingStable, Warn, limit(ev), "the public ports ran low: hosts holding many pins got no more")
	}
	if e.Disagreeing > 0 {
		return check(IDMappingStable, Warn, limit(ev), "%s still have older flows on another public endpoint",
			plural(e.Disagreeing, "pinned endpoint"))
	}
	if len(e.QuotaFull) > 0 {
		return check(IDMappingStable, Warn, limit(ev), "pinned mappings hold; some hosts are at their pin quota")
	}
	if e.Pins == 0 {
		return check(IDMappingStable, Unknown, limit(ev), "no pinned endpoint yet: nothing to see hold")
	}
	return check(IDMappingStable, Pass, limit(ev), "pinned mappings hold: every pinned endpoint's live flows use its pin")
}

// refusedLines says which pins were refused or dropped to keep one LAN
// host from spending the others' (docs/enforce.md).
func refusedLines(e *Enforcement) []string {
	var out []string
	if e.Evicted+e.Unanswered > 0 {
		out = append(out, fmt.Sprintf("pins whose flows never saw a reply (forged sources, scans): %d held, %d dropped to make room, "+
			"%d at the end of their short life", e.Unreplied, e.Evicted, e.Unanswered))
	}
	if e.PressureHits > 0 {
		out = append(out, fmt.Sprintf("%s left unpinned: the public ports ran low, and the last are kept for hosts with few pins",
			plural(e.PressureHits, "new flow")))
	}
	if e.PinsPutBack > 0 {
		out = append(out, fmt.Sprintf("pins put back %s with the rules in place (a failed update, or pins the kernel learned for refused flows)", plural(e.PinsPutBack, "time")))
	}
	return out
}

// raisedLines says which timeouts a check reads natp2p raised, in one line.
func raisedLines(id string, e *Enforcement) []string {
	var parts []string
	for _, t := range e.Raised {
		udp := strings.HasPrefix(short(t.Name), "udp")
		est := t.Name == SysctlTCPEstablished
		if (id == IDTimeoutUDP && udp) || (id == IDTimeoutTCP && est) || (id == IDTimeoutTCPTrans && !udp && !est) {
			parts = append(parts, fmt.Sprintf("%s %d s -> %d s", short(t.Name), t.Was, t.Now))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return []string{"raised by natp2p (natp2p-agent cleanup restores them): " + strings.Join(parts, ", ")}
}

func joinAddrs[T fmt.Stringer](as []T) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
