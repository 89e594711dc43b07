package enforce

import (
	"fmt"
	"sort"

	"github.com/natp2p/natp2p/enforce/status"
)

// Sysctl reads and writes integer sysctls by full name
// ("net.netfilter.nf_conntrack_udp_timeout").
type Sysctl interface {
	Get(name string) (int, error)
	Set(name string, v int) error
}

// Conntrack timeout sysctls and the floors the RFCs set (seconds).
const (
	sysUDP       = "net.netfilter.nf_conntrack_udp_timeout"
	sysUDPStream = "net.netfilter.nf_conntrack_udp_timeout_stream"
	sysTCPEst    = "net.netfilter.nf_conntrack_tcp_timeout_established"

	// DefaultUDPTimeout is RFC 4787 REQ-5's recommended five minutes.
	DefaultUDPTimeout = 300
	// MinUDPTimeout is REQ-5's floor: a lower setting is refused.
	MinUDPTimeout = 120
	minTCPEst     = 7440 // RFC 5382 REQ-5: two hours and four minutes
	minTCPTrans   = 240  // RFC 5382 REQ-5: four minutes for transitory states
)

// TimeoutFloors returns the sysctls enforcement raises and the value each
// is raised to when lower: the UDP timeouts to udp seconds (both the
// unreplied and the stream one: a one-way refresh must keep the mapping),
// TCP established to 7440 s, the transitory TCP states to 240 s.
func TimeoutFloors(udp int) (map[string]int, error) {
	if udp < MinUDPTimeout {
		return nil, fmt.Errorf("UDP timeout %d s is under RFC 4787's floor of %d s", udp, MinUDPTimeout)
	}
	f := map[string]int{sysUDP: udp, sysUDPStream: udp, sysTCPEst: minTCPEst}
	for _, name := range status.TCPTransitory {
		f[name] = minTCPTrans
	}
	return f, nil
}

// raiseTimeouts raises each sysctl below its floor. The original value is
// recorded in st before it is changed, and save is called before the first
// write, so a crash never loses an original. Values already at or above
// their floor are left alone, and so are the originals st had from an
// earlier run.
func raiseTimeouts(sys Sysctl, floors map[string]int, st *State, save func() error) ([]status.TimeoutChange, error) {
	type raise struct {
		name    string
		cur, to int
	}
	var todo []raise
	for _, name := range sortedKeys(floors) {
		cur, err := sys.Get(name)
		if err != nil {
			return nil, err
		}
		if cur < floors[name] {
			todo = append(todo, raise{name, cur, floors[name]})
			if _, ok := st.Sysctls[name]; !ok {
				st.Sysctls[name] = cur
			}
		}
	}
	if len(todo) > 0 {
		if err := save(); err != nil {
			return nil, err
		}
	}
	for _, r := range todo {
		if err := sys.Set(r.name, r.to); err != nil {
			return nil, err
		}
	}
	// Report every sysctl natp2p holds raised, this run or an earlier one.
	var out []status.TimeoutChange
	for _, name := range sortedKeys(st.Sysctls) {
		now, err := sys.Get(name)
		if err != nil {
			return nil, err
		}
		out = append(out, status.TimeoutChange{Name: name, Was: st.Sysctls[name], Now: now})
	}
	return out, nil
}

// restoreTimeouts writes back the originals st recorded.
func restoreTimeouts(sys Sysctl, st State) error {
	for _, name := range sortedKeys(st.Sysctls) {
		if err := sys.Set(name, st.Sysctls[name]); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// startTimeouts raises the timeouts to Config.Floors, or, with no floors,
// puts back what an earlier run with timeouts on raised.
func (e *Enforcer) startTimeouts() error {
	if e.cfg.Floors == nil {
		// Raised by an earlier run with timeouts on: put them back.
		if len(e.state.Sysctls) > 0 && e.cfg.Sysctl != nil {
			if err := restoreTimeouts(e.cfg.Sysctl, e.state); err != nil {
				return err
			}
			e.state.Sysctls = map[string]int{}
		}
		return nil
	}
	changed, err := raiseTimeouts(e.cfg.Sysctl, e.cfg.Floors, &e.state, e.saveState)
	if err != nil {
		return err
	}
	e.timeouts = changed
	for _, c := range changed {
		e.log.Info("conntrack timeout raised", "sysctl", c.Name, "was", c.Was, "now", c.Now)
	}
	return nil
}
