package enforce

import (
	"net/netip"

	"github.com/natp2p/natp2p/enforce/status"
)

// Status returns what the Enforcer did so far.
func (e *Enforcer) Status() status.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := status.Status{Installed: e.installed, PlannerStats: e.planner.Stats(), Reinstalls: e.reinstalls, PinsPutBack: e.putBack,
		Raised: append([]status.TimeoutChange{}, e.timeouts...), QuotaFull: e.planner.QuotaFull(), Error: e.lastErr,
		Failures: e.failures, RandomNAT: e.randomNAT}
	if e.lastErr != "" {
		at := e.lastErrAt
		s.ErrorAt = &at
	}
	if e.cfg.Backend != nil {
		s.Backend = e.cfg.Backend.Name()
	}
	if s.QuotaFull == nil {
		s.QuotaFull = []netip.Addr{}
	}
	s.InstallP50, s.InstallP99 = e.latency.percentiles()
	return s
}
