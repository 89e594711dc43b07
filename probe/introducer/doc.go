// Package introducer is natp2p's public STUN server: an RFC 5780 NAT
// behaviour discovery server (RFC 8489 Binding) on two IP addresses and
// two ports, against which natp2p-agent probes its NAT from the LAN side.
//
// # Behaviour
//
// Only Binding requests are answered (RFC 8489 6.3.1); responses,
// indications, other methods and anything that is not STUN are dropped
// silently and counted. A success response carries XOR-MAPPED-ADDRESS,
// MAPPED-ADDRESS (RFC 5780 6.1 asks for both; RFC 3489-era clients read
// the latter), RESPONSE-ORIGIN (the address it is sent from), OTHER-ADDRESS
// (the other IP and port, unless in degraded mode), PADDING when the
// request had it, SOFTWARE and FINGERPRINT.
//
// CHANGE-REQUEST makes the response leave from the other IP and/or port
// (RFC 5780 6.1, table 1). RESPONSE-PORT sends it to that port of the
// requester's IP address (7.5). Comprehension-required attributes the
// server does not understand get 420 with UNKNOWN-ATTRIBUTES (RFC 8489
// 6.3.1); RFC 3489's RESPONSE-ADDRESS is one of them.
//
// # Degraded mode
//
// Without an Alternate address the server serves Primary:Port only, sends
// no OTHER-ADDRESS, and answers any request with CHANGE-REQUEST with 420
// (RFC 5780 6): clients can learn their mapped address but cannot
// classify their NAT's mapping or filtering.
//
// # Abuse
//
// A STUN server answers spoofed sources, so it must not amplify. A
// response is never more than a fixed number of bytes (128 with the
// default SOFTWARE) longer than its request: PADDING is mirrored at the
// request's own length (rather than the outgoing MTU RFC 5780 6.1
// suggests), and a request with both PADDING and RESPONSE-PORT gets 400
// (RFC 5780 6.1, 7.5, 10). RESPONSE-PORT only reaches the requester's own
// IP address. Each source (IPv4 address or IPv6 /64) has a token bucket,
// checked after a header check that allocates nothing and before
// anything else; the limiter tracks a bounded number of sources and
// forgets the least recently seen. Spoofed sources defeat a per-source
// bound, so a global one (Config.GlobalRate, one token bucket in an
// atomic shared by every reader) caps the UDP replies of the whole
// server; a request over it is dropped before it is parsed. Nothing is
// logged per packet: one summary line per interval counts requests,
// responses, drops and the requests each limit refused.
// docs/introducer.md gives the limits and the measured amplification
// factor of each kind of reply.
//
// # TCP
//
// With Config.TCP, Binding also works over TCP on the same addresses
// (RFC 8489 6.2.2). A response over TCP can only go back on its
// connection, so CHANGE-REQUEST with a flag set and RESPONSE-PORT get
// 420 there. A source may hold Config.TCPConnsPerSource connections and
// the server Config.TCPConns; each lives Config.TCPLife from its accept,
// a deadline that nothing the client sends moves, and makes at most
// Config.TCPRequests requests (RFC 8489 6.2.2 leaves closing to the
// client but asks servers to manage connections under overload).
//
// Package probetest runs a Server on loopback addresses for tests.
package introducer
