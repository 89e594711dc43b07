package agent

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/natp2p/natp2p/enforce"
	"github.com/natp2p/natp2p/report"
)

// Modes.
const (
	ModeObserve = "observe" // follow conntrack and report; change nothing
	ModeEnforce = "enforce" // also pin mappings, hairpin and raise timeouts
)

// Backends.
const (
	BackendAuto     = "auto"
	BackendNftables = enforce.NameNftables
	BackendIptables = enforce.NameIptables
)

// EnforceConfig configures enforce mode. Each enforcement can be switched
// off; DefaultEnforce has them all on.
type EnforceConfig struct {
	Backend    string        // BackendAuto, BackendNftables or BackendIptables
	Mapping    bool          // pin mappings: endpoint-independent mapping, no port overloading
	Hairpin    bool          // hairpin LAN-to-LAN traffic to pinned public endpoints
	Timeouts   bool          // raise the conntrack timeouts
	UDPTimeout int           // seconds the UDP timeouts are raised to
	PinGrace   time.Duration // how long a pin outlives its last flow
	PinQuota   int           // pins per LAN host; negative: unlimited
	// PreservePorts makes the iptables backend masquerade new LAN flows
	// without a pin itself, keeping their ports (enforce.Rules.Preserve).
	PreservePorts bool
	// StatePath is the enforcement state file; if empty, StatePath of the
	// control socket.
	StatePath string
}

// DefaultEnforce is enforce mode with every enforcement on.
func DefaultEnforce() EnforceConfig {
	return EnforceConfig{Backend: BackendAuto, Mapping: true, Hairpin: true, Timeouts: true,
		UDPTimeout: enforce.DefaultUDPTimeout, PinGrace: enforce.DefaultGrace, PinQuota: enforce.DefaultQuota}
}

// CheckBackend accepts the backend names.
func CheckBackend(b string) error {
	switch b {
	case "", BackendAuto, BackendNftables, BackendIptables:
		return nil
	}
	return fmt.Errorf("unknown backend %q (use auto, nftables or iptables)", b)
}

// StatePath returns where enforcement keeps its state for a control
// socket path: beside it, named after it (agent.sock: agent.enforce.json),
// in RAM on a router. An agent on another socket has a state of its own.
func StatePath(socket string) string {
	if socket == "" {
		socket = DefaultSocket
	}
	return strings.TrimSuffix(socket, filepath.Ext(socket)) + ".enforce.json"
}

// statePath is where enforcement keeps its state.
func (a *Agent) statePath() string {
	if a.cfg.Enforce != nil && a.cfg.Enforce.StatePath != "" {
		return a.cfg.Enforce.StatePath
	}
	return StatePath(a.cfg.Socket)
}

// setupEnforcer builds the enforcer of enforce mode (nil in observe mode).
// It changes nothing in the kernel: Run starts it.
func (a *Agent) setupEnforcer() error {
	ec := a.cfg.Enforce
	if ec == nil {
		return nil
	}
	cfg := enforce.Config{Table: a.table, Logger: a.log, Now: a.cfg.Now, Public: a.isPublic,
		StatePath: a.statePath(), Planner: enforce.PlannerConfig{Grace: ec.PinGrace, Quota: ec.PinQuota,
			HairpinOnly: !ec.Mapping}}
	if ec.Timeouts {
		floors, err := enforce.TimeoutFloors(ec.UDPTimeout)
		if err != nil {
			return err
		}
		cfg.Floors = floors
	}
	cfg.Sysctl = sysctlRW{a.cfg.System} // also to restore what an earlier run raised
	if ec.Mapping || ec.Hairpin {
		name, err := pickBackend(ec.Backend)
		if err != nil {
			return err
		}
		rules := enforce.Rules{WAN: a.cfg.WAN, Mapping: ec.Mapping, Hairpin: ec.Hairpin}
		for _, l := range a.lan {
			rules.LAN = append(rules.LAN, l.Name)
		}
		if ec.PreservePorts {
			if rules.Preserve, err = a.preserveNetworks(name, rules.LAN, ec.Mapping); err != nil {
				return err
			}
			a.preserving = len(rules.Preserve) > 0
		}
		if ec.Hairpin {
			if len(rules.LAN) == 0 {
				return fmt.Errorf("hairpinning needs a LAN interface: name it with --lan, or switch hairpinning off")
			}
			if rules.Sources, err = LANPrefixes(rules.LAN); err != nil {
				return fmt.Errorf("hairpinning: %w", err)
			}
		}
		if cfg.Backend, err = newBackend(name, rules); err != nil {
			return err
		}
		cfg.Rules = rules
		if name == BackendIptables {
			// Each check runs iptables, which on legacy iptables reads the
			// whole nat table: look half as often.
			cfg.Watch = 2 * enforce.DefaultWatch
		}
		cfg.Kill = killFlow
	}
	e, err := enforce.New(cfg)
	if err != nil {
		return err
	}
	a.enforcer = e
	return nil
}

// preserveNetworks returns the LAN networks whose unpinned flows the
// iptables backend masquerades itself (preserve_ports); none, with a log
// line saying why, when the option does not apply. Of auto-detected LAN
// interfaces only private networks (RFC 1918, RFC 6598) count: they may
// include routed public networks the router does not NAT.
func (a *Agent) preserveNetworks(backend string, lan []string, mapping bool) ([]netip.Prefix, error) {
	switch {
	case !mapping:
		a.log.Info("preserve_ports ignored: it serves mapping enforcement, which is off")
		return nil, nil
	case backend != BackendIptables:
		a.log.Info("preserve_ports ignored: it is for the iptables backend; nftables pins from a flow's first packet")
		return nil, nil
	}
	nets, err := LANPrefixes(lan)
	if err != nil {
		return nil, err
	}
	if len(a.cfg.LAN) == 0 {
		nets = slices.DeleteFunc(nets, func(p netip.Prefix) bool { return !isPrivate(p.Addr()) })
		if len(nets) == 0 {
			return nil, fmt.Errorf("preserve_ports: no private IPv4 network on the LAN interfaces %v (name the LAN interfaces with --lan)", lan)
		}
	}
	a.log.Info("preserving the ports of new flows without a pin", "networks", nets)
	return nets, nil
}

// isPrivate: RFC 1918 and RFC 6598 (shared address space) addresses.
func isPrivate(a netip.Addr) bool {
	return a.IsPrivate() || netip.MustParsePrefix("100.64.0.0/10").Contains(a)
}

// enforcement is the report's view of enforce mode; nil in observe mode.
func (a *Agent) enforcement() *report.Enforcement {
	if a.enforcer == nil {
		return nil
	}
	ec := a.cfg.Enforce
	return &report.Enforcement{Mode: ModeEnforce, Mapping: ec.Mapping, Hairpin: ec.Hairpin, Timeouts: ec.Timeouts,
		PreservePorts: a.preserving, Status: a.enforcer.Status()}
}
