//go:build !linux

package agent

import "net"

// peerIsRoot relies on the socket's 0600 mode where SO_PEERCRED is missing.
func peerIsRoot(net.Conn) error { return nil }
