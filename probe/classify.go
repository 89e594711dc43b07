package probe

import "net/netip"

// mappingBehaviour applies RFC 5780 4.3: test I went to the primary
// address, test II to the alternate address on the primary port, test III
// to the alternate address and port.
func mappingBehaviour(i, ii, iii Test) Behaviour {
	switch {
	case !i.Answered || !ii.Answered:
		return Unknown
	case i.Mapped == ii.Mapped:
		return EndpointIndependent
	case !iii.Answered:
		return Unknown
	case ii.Mapped == iii.Mapped:
		return AddressDependent
	}
	return AddressAndPortDependent
}

// filteringBehaviour applies RFC 5780 4.4 to a socket that has only sent
// to the primary address: test II asked for the answer from the other
// address and port, test III from the primary address's other port. An
// answer from anywhere else means the server did not do as asked.
func filteringBehaviour(ii, iii Test, primary, other netip.AddrPort) Behaviour {
	changedPort := netip.AddrPortFrom(primary.Addr(), other.Port())
	switch {
	case !other.IsValid():
		return Unknown
	case ii.Answered && ii.From == other:
		return EndpointIndependent
	case !ii.Answered && iii.Answered && iii.From == changedPort:
		return AddressDependent
	case ii.Answered || iii.Answered:
		return Unknown
	}
	return AddressAndPortDependent
}
