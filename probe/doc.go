// Package probe classifies a NAT from the outside, as RFC 5780 describes:
// it sends STUN Binding requests from the LAN side to an introducer (an
// RFC 5780 server on two addresses and two ports, see probe/introducer)
// and reads what the introducer saw.
//
// A probe measures, in parallel where the RFC allows:
//   - mapping behaviour (RFC 5780 4.3): one socket asks the introducer's
//     primary address, its alternate address on the primary port, and the
//     alternate address and port what they saw;
//   - filtering behaviour (RFC 5780 4.4): a fresh socket that has only
//     talked to the primary address asks for answers from the other
//     address and port (CHANGE-REQUEST), which the NAT passes or drops;
//   - hairpinning (RFC 5780 4.5): a third socket sends to the first one's
//     public mapping;
//   - port preservation, ALG rewriting (MAPPED-ADDRESS against
//     XOR-MAPPED-ADDRESS) and the TCP mapping behaviour;
//   - with natp2p-introducer, the answer to an unsolicited SYN: over a TCP
//     connection of its own the probe asks the introducer to send one from
//     its alternate address to the connection's public endpoint (RFC 5382
//     REQ-4), and hears back whether a RST, an ICMP error or nothing came;
//   - hole punching, NAT Check style: UDP with the introducer's alternate
//     address and port as the peer, TCP by simultaneous open with a peer the
//     introducer plays on its alternate address (draft-ietf-behave-p2p-state
//     2.5). natp2p's attributes are comprehension-optional: coturn and
//     stund ignore them, and the unsolicited SYN and TCP punching stay
//     unknown.
//
// Plan and classification are plain functions of what came back, so they
// are tested without a network; Run does the I/O. Every run uses fresh
// random source ports (RFC 5780 4.1), so an earlier run's mappings and
// filters cannot mislead it.
//
// # Vantage points
//
// A probe measures the NAT on the path of its own packets. Config.Local
// picks the address they leave from; Config.Enter, when set, creates every
// socket, so a caller can put them in another network namespace (the
// agent's LAN-side namespace on the router's LAN bridge) without this
// package knowing about namespaces.
package probe
