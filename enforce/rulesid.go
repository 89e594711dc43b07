package enforce

import (
	"fmt"
	"net/netip"
)

// rulesIDVersion begins every Rules.ID. Raise it when a backend comes to
// make other rules from the same Rules, so that an upgraded agent replaces
// the rules an older one left.
const rulesIDVersion = "rules/v1"

// ID names the rules backend makes from r, for the state file: at start
// the kernel's rules are kept only when the state file names the same. It
// spells out, after the version, each field that shapes the rules. A field
// added to Rules changes no ID until it is written here; write it only when
// it is not zero, so that the rules of routers that leave it unset keep
// their ID across the upgrade.
func (r Rules) ID(backend string) string {
	id := fmt.Sprintf("%s %s wan=%q lan=%q mapping=%t hairpin=%t preserve=%v",
		rulesIDVersion, backend, r.WAN, r.LAN, r.Mapping, r.Hairpin, r.Preserve)
	if len(r.Sources) > 0 {
		id += fmt.Sprintf(" sources=%v", r.Sources)
	}
	if backend == NameIptables {
		// Trees of chains (ipttree_linux.go) replaced one chain of pins,
		// then 2-bit levels within a /24 (tree2) the 4-bit ones: updates
		// lay out against the trees, so the older rules go.
		id += " layout=tree2"
	}
	return id
}

// rulesV0 is Rules as the agents before rules/v1 knew it, frozen: they
// saved fmt.Sprintf("%s %+v", backend, rules) as the ID.
type rulesV0 struct {
	WAN      string
	LAN      []string
	Mapping  bool
	Hairpin  bool
	Preserve []netip.Prefix
}

// legacyID is the ID the agents before rules/v1 saved for r; "" when r
// sets a field they did not have, as they made other rules.
func (r Rules) legacyID(backend string) string {
	// Compared printed: reflect.DeepEqual would cost the agent 16 KB.
	if fmt.Sprint(r) != fmt.Sprint(Rules{WAN: r.WAN, LAN: r.LAN, Mapping: r.Mapping, Hairpin: r.Hairpin, Preserve: r.Preserve}) ||
		backend == NameIptables {
		return "" // r sets a field added since, or iptables' layout changed since
	}
	return fmt.Sprintf("%s %+v", backend, rulesV0{WAN: r.WAN, LAN: r.LAN, Mapping: r.Mapping, Hairpin: r.Hairpin, Preserve: r.Preserve})
}

// namedBy reports whether id, read from a state file, names the rules
// backend makes from r: their ID, or the legacy one of an older agent.
func (r Rules) namedBy(id, backend string) bool {
	return id != "" && (id == r.ID(backend) || id == r.legacyID(backend))
}
