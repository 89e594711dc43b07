package enforce

import (
	"errors"
	"os"
)

// Cleanup removes every trace of enforcement: the rules of every backend
// given (whichever a previous run used) and the raised timeouts, restored
// from the state file, which is then deleted. It is safe to run when
// nothing is there.
func Cleanup(backends []Backend, sys Sysctl, statePath string) error {
	var errs []error
	for _, b := range backends {
		if err := b.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	st, err := LoadState(statePath)
	if err != nil {
		return errors.Join(append(errs, err)...)
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
