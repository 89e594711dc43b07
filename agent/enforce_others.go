//go:build !linux

package agent

import (
	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce"
)

func pickBackend(string) (string, error) { return "", ErrUnsupported }

func newBackend(string, enforce.Rules) (enforce.Backend, error) { return nil, ErrUnsupported }

func killFlow(conntrackmap.Flow) error { return ErrUnsupported }

// Cleanup is only available on Linux.
func Cleanup(System, string) error { return ErrUnsupported }

func (a *Agent) removeLeftovers() {}
