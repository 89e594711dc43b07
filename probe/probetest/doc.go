// Package probetest runs an in-process natp2p introducer
// (probe/introducer) on loopback addresses for tests, as tailscale's
// stuntest does for its STUN server.
//
// The server listens on 127.0.0.1 and 127.0.0.2 (Linux routes all of
// 127.0.0.0/8 to lo, so both are local without any setup) on a pair of
// ports, Port and Port+1, picked at random outside the kernel's
// ephemeral port range (net.ipv4.ip_local_port_range), so that no
// client socket bound to port 0 can take them; if another test holds
// them, Start picks again. It stops in t.Cleanup.
//
//	in := probetest.Start(t, introducer.Config{})
//	conn.WriteToUDPAddrPort(req, in.Addr(0, 0)) // A1:P1
package probetest
