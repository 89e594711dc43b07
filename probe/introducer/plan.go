package introducer

import "net/netip"

// plan is the server's address plan in RFC 5780 6.1 terms: two IP
// addresses A1, A2 and two ports P1, P2. In degraded single-IP mode A2 is
// not valid and only A1:P1 is served.
type plan struct {
	ips   [2]netip.Addr
	ports [2]uint16
}

func newPlan(c Config) plan {
	return plan{ips: [2]netip.Addr{c.Primary, c.Alternate}, ports: [2]uint16{c.Port, c.AltPort}}
}

// degraded reports whether the server has a single IP address.
func (p plan) degraded() bool { return !p.ips[1].IsValid() }

// addr returns Aip:Pport (indices 0 or 1).
func (p plan) addr(ip, port int) netip.AddrPort {
	return netip.AddrPortFrom(p.ips[ip], p.ports[port])
}

// sockets lists the addresses served, A1:P1 first: A1:P1, A1:P2, A2:P1,
// A2:P2, or only A1:P1 when degraded.
func (p plan) sockets() []netip.AddrPort {
	if p.degraded() {
		return []netip.AddrPort{p.addr(0, 0)}
	}
	return []netip.AddrPort{p.addr(0, 0), p.addr(0, 1), p.addr(1, 0), p.addr(1, 1)}
}

// index finds a served local address: its IP and port indices. It
// allocates nothing (it runs per packet).
func (p plan) index(local netip.AddrPort) (ip, port int, ok bool) {
	for i := 0; i < 4; i++ {
		ip, port = i/2, i%2
		if p.ips[ip].IsValid() && p.addr(ip, port) == local && (!p.degraded() || i == 0) {
			return ip, port, true
		}
	}
	return 0, 0, false
}
