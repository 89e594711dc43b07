package enforce

import (
	"errors"
	"os"
	"slices"
)

// Cleanup removes every trace of enforcement: the rules of every backend
// given (whichever a previous run used), the base chains and table their
// use made the firewall create (see footprinter), and the raised
// timeouts, restored from the state file, which is then deleted. It is
// safe to run when nothing is there.
func Cleanup(backends []Backend, sys Sysctl, statePath string) error {
	st, stErr := LoadState(statePath)
	var errs []error
	for _, b := range backends {
		if err := b.Remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		if f, ok := b.(footprinter); ok && stErr == nil && st.IPTNat != nil {
			if err := f.Sweep(*st.IPTNat); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if stErr != nil {
		return errors.Join(append(errs, stErr)...)
	}
	if len(st.Sysctls) > 0 {
		if err := restoreTimeouts(sys, st); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	if err := os.Remove(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// footprinter is a Backend whose rules make the firewall create objects
// that are not natp2p's: iptables-nft creates the nat table and its base
// chains when a rule first goes in one. Footprint reads them before the
// first install (nil: nothing to record); after Remove, Sweep deletes
// those absent before that are empty now.
type footprinter interface {
	Footprint() (*NATTable, error)
	Sweep(before NATTable) error
}

// recordFootprint notes in the state what the backend's rules may make
// the firewall create, before they go in, unless the state has it from an
// earlier run. A failure is logged: cleanup then leaves those objects.
func (e *Enforcer) recordFootprint() {
	f, ok := e.cfg.Backend.(footprinter)
	if !ok || e.state.IPTNat != nil {
		return
	}
	nat, err := f.Footprint()
	if err != nil {
		e.log.Warn("cannot read the nat table before installing; cleanup will leave its base chains", "err", err)
		return
	}
	e.state.IPTNat = nat
}

// natObjects reads and deletes nf_tables' family ip table "nat" and its
// base chains: over netlink, or a fake in tests.
type natObjects interface {
	// read returns what exists, and how many chains the table has,
	// base chains or not.
	read() (t NATTable, chains int, err error)
	rules(chain string) (int, error)
	delChain(chain string) error
	delTable() error
}

// sweepNAT deletes the base chains of n absent from before that hold no
// rule, then the table if it was absent and holds no chain.
func sweepNAT(n natObjects, before NATTable) error {
	now, _, err := n.read()
	if err != nil || !now.Exists {
		return err
	}
	for _, c := range now.Chains {
		if slices.Contains(before.Chains, c) {
			continue
		}
		if k, err := n.rules(c); err != nil || k > 0 {
			continue
		}
		if err := n.delChain(c); err != nil {
			return err
		}
	}
	if before.Exists {
		return nil
	}
	if _, chains, err := n.read(); err != nil || chains > 0 {
		return err
	}
	return n.delTable()
}
