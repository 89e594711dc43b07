package conntrackmap

import "net/netip"

// addr is an address in a fixed-size, pointer-free form. The table keeps
// IPv4 and IPv6 flows in separate shards so that an IPv4 endpoint costs 6
// bytes, not the 32 of a netip.AddrPort; pointer-free keys also keep the
// maps out of the garbage collector's scans.
type addr interface{ [4]byte | [16]byte }

type endpoint[A addr] struct {
	addr A
	port uint16
}

func addrFrom[A addr](ip netip.Addr) A {
	var a A
	switch p := any(&a).(type) {
	case *[4]byte:
		*p = ip.As4()
	case *[16]byte:
		*p = ip.As16()
	}
	return a
}

func netipAddr[A addr](a A) netip.Addr {
	switch x := any(a).(type) {
	case [4]byte:
		return netip.AddrFrom4(x)
	case [16]byte:
		return netip.AddrFrom16(x)
	}
	return netip.Addr{}
}

func endpointOf[A addr](ap netip.AddrPort) endpoint[A] {
	return endpoint[A]{addr: addrFrom[A](ap.Addr()), port: ap.Port()}
}

func (e endpoint[A]) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netipAddr(e.addr), e.port)
}

// endpointKey names an endpoint of one protocol: a private endpoint (a
// mapping's key) or a public one.
type endpointKey[A addr] struct {
	proto Proto
	ep    endpoint[A]
}

// flowKey identifies a flow as conntrack does: by its original tuple.
type flowKey[A addr] struct {
	proto  Proto
	priv   endpoint[A]
	remote endpoint[A]
}

func keysOf[A addr](f Flow) (flowKey[A], endpointKey[A], endpointKey[A]) {
	priv, pub := endpointOf[A](f.Private()), endpointOf[A](f.Public())
	fk := flowKey[A]{proto: f.Proto, priv: priv, remote: endpointOf[A](f.Remote())}
	return fk, endpointKey[A]{f.Proto, priv}, endpointKey[A]{f.Proto, pub}
}

func netipPort[A addr](a A, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netipAddr(a), port)
}
