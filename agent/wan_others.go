//go:build !linux

package agent

// noSuchLink is false off Linux: no answer.
func noSuchLink(string) bool { return false }
