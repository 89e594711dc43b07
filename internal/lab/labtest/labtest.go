//go:build linux

// Package labtest builds lab networks for tests.
package labtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
)

// RequireEnv is the environment variable that turns a missing lab from a
// skip into a failure (CI sets NATP2P_REQUIRE_LAB=1 so lab tests can never
// silently skip).
const RequireEnv = "NATP2P_REQUIRE_LAB"

// buildTimeout bounds lab.New.
const buildTimeout = 60 * time.Second

// New builds a lab for t. When the lab cannot run here it skips t with the
// lab.Requirements message, or fails t if NATP2P_REQUIRE_LAB=1. It logs
// every command with t.Logf (unless cfg.Logf is set) and closes the lab in
// t.Cleanup.
func New(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	Require(t, cfg.Backend)
	if envFlavourErr != nil && cfg.Backend == lab.Iptables {
		t.Fatalf("%s=%s: %v", lab.FlavourEnv, envFlavour, envFlavourErr)
	}
	if cfg.Flavour == "" && cfg.Backend == lab.Iptables {
		cfg.Flavour = envFlavour
		if current != "" {
			cfg.Flavour = current
		}
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	l, err := lab.New(ctx, cfg)
	if err != nil {
		t.Fatalf("building lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})
	return l
}

// Require skips t (or fails it if NATP2P_REQUIRE_LAB=1) when a lab with
// backend b cannot run here. Use it before calling lab.New directly.
func Require(t testing.TB, b lab.Backend) {
	t.Helper()
	err := lab.Requirements(b)
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("lab required (%s=1) but unavailable: %v", RequireEnv, err)
	}
	t.Skipf("skipping: %v", err)
}

// Missing skips t because a tool the test needs (a real peer such as
// coturn) is not installed, or fails it if NATP2P_REQUIRE_LAB=1: CI
// installs every peer, so there a missing one is a broken set-up.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is required (%s=1) but not installed", what, RequireEnv)
	}
	t.Skipf("skipping: %s is not installed", what)
}
