package enforce

import (
	"fmt"
	"net/netip"
	"slices"
)

// Backend puts pins in the kernel's firewall. Every method touches only
// natp2p's own table or chains.
type Backend interface {
	// Name is "nftables" or "iptables".
	Name() string
	// Install makes natp2p's rules exist, holding exactly pins, replacing
	// whatever of natp2p's is there.
	Install(pins []Pin) error
	// Update deletes and adds pins. On an error the caller reinstalls.
	Update(add, del []Pin) error
	// Installed reports whether every rule is in place, as a firewall
	// reload or a flush may have removed them.
	Installed() (bool, error)
	// Pins reads the pins in the kernel: none when nothing of natp2p's is
	// there.
	Pins() ([]Pin, error)
	// Remove deletes every rule, chain, table and map of natp2p's. Nothing
	// to remove is no error.
	Remove() error
}

// learner is a Backend that pins new endpoints by itself, in the kernel.
type learner interface{ LearnsPins() bool }

// Rules says where the rules apply.
type Rules struct {
	WAN string   // pinned flows leave through it: the SNAT runs on its output
	LAN []string // hairpinned packets arrive and leave through them
	// Sources are the LAN networks: hairpinning serves only packets from
	// them that arrive on a LAN interface, so that an interface wrongly
	// taken for a LAN (an uplink) opens nothing to the internet.
	Sources []netip.Prefix
	// Mapping adds the SNAT of pinned endpoints' flows on WAN output, which
	// makes their mappings endpoint-independent. Without it the pins only
	// serve hairpinning, with the mappings the router's NAT chose.
	Mapping bool
	// Hairpin adds the DNAT of pinned public endpoints on LAN input and the
	// SNAT of hairpinned packets to the sender's pin (RFC 4787 REQ-9).
	Hairpin bool
	// Preserve lists the LAN prefixes whose new flows without a pin natp2p
	// masquerades itself on WAN output, keeping their source port (the
	// kernel's endpoint-independent choice), ahead of the router's own NAT
	// rules. Only the iptables backend has it: it pins from the event
	// stream, too late for a second destination sent within milliseconds
	// of the first under a fully-random NAT. It overrides the router's NAT
	// for those sources, exclusions included: the admin asks for it.
	Preserve []netip.Prefix
}

func (r Rules) validate() error {
	if r.WAN == "" {
		return fmt.Errorf("enforce: no WAN interface")
	}
	if !r.Mapping && !r.Hairpin {
		return fmt.Errorf("enforce: rules for neither mapping nor hairpinning")
	}
	if len(r.Preserve) > 0 && !r.Mapping {
		return fmt.Errorf("enforce: port preservation needs mapping enforcement")
	}
	for _, p := range r.Preserve {
		if !p.IsValid() || !p.Addr().Is4() || p != p.Masked() {
			return fmt.Errorf("enforce: bad prefix to preserve ports of %v", p)
		}
	}
	if err := r.validateLAN(); err != nil {
		return err
	}
	for _, name := range append([]string{r.WAN}, r.LAN...) {
		if len(name) == 0 || len(name) >= ifNameSize {
			return fmt.Errorf("enforce: bad interface name %q", name)
		}
	}
	return nil
}

// validateLAN: hairpinning needs LAN interfaces and their networks, and
// the WAN is none of them.
func (r Rules) validateLAN() error {
	if r.Hairpin && len(r.LAN) == 0 {
		return fmt.Errorf("enforce: hairpinning needs a LAN interface")
	}
	if r.Hairpin && len(r.Sources) == 0 {
		return fmt.Errorf("enforce: hairpinning needs the LAN networks")
	}
	if slices.Contains(r.LAN, r.WAN) {
		return fmt.Errorf("enforce: the WAN %s is among the LAN interfaces", r.WAN)
	}
	for _, p := range r.Sources {
		if !p.IsValid() || !p.Addr().Is4() || p != p.Masked() || p.Bits() == 0 {
			return fmt.Errorf("enforce: bad LAN network %v", p)
		}
	}
	return nil
}

// ifNameSize is IFNAMSIZ: interface names are at most 15 bytes.
const ifNameSize = 16

// Backend names.
const (
	NameNftables = "nftables"
	NameIptables = "iptables"
)
