//go:build linux

package labtest

import (
	"fmt"
	"os"
	"testing"

	"github.com/natp2p/natp2p/internal/lab"
)

// envFlavour is the flavour lab.FlavourEnv asked for, put first in PATH
// for the whole test binary (the agent processes inherit it); "" when unset.
var envFlavour, envFlavourErr = func() (lab.Flavour, error) {
	f := lab.Flavour(os.Getenv(lab.FlavourEnv))
	if f == "" {
		return "", nil
	}
	path, err := f.PATH(os.Getenv("PATH"))
	if err != nil {
		return f, err
	}
	return f, os.Setenv("PATH", path)
}()

// UseFlavour makes t's iptables f: its tools first in PATH for t (the
// in-process backend, the agent processes t starts, the lab router's
// rules). A flavour not installed skips t, or fails it with
// NATP2P_REQUIRE_LAB=1. Not for parallel tests (t.Setenv).
func UseFlavour(t testing.TB, f lab.Flavour) {
	t.Helper()
	path, err := f.PATH(os.Getenv("PATH"))
	if err != nil {
		Missing(t, fmt.Sprintf("iptables %s (%v)", f, err))
	}
	t.Setenv("PATH", path)
	prev := current
	current = f
	t.Cleanup(func() { current = prev })
}

// Flavour is the iptables flavour UseFlavour or NATP2P_IPTABLES chose,
// or "" (whatever PATH had).
func Flavour() lab.Flavour {
	if current != "" {
		return current
	}
	return envFlavour
}

// current is UseFlavour's flavour, which New gives the labs it builds.
var current lab.Flavour

// EachFlavour runs fn as a subtest per iptables flavour (iptables-nft,
// iptables-legacy),
// each with UseFlavour. With NATP2P_IPTABLES set it runs that flavour only.
func EachFlavour(t *testing.T, fn func(t *testing.T, f lab.Flavour)) {
	t.Helper()
	flavours := lab.Flavours
	if envFlavour != "" {
		flavours = []lab.Flavour{envFlavour}
	}
	for _, f := range flavours {
		t.Run("iptables-"+string(f), func(t *testing.T) {
			UseFlavour(t, f)
			fn(t, f)
		})
	}
}
