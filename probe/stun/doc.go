// Package stun encodes and decodes the STUN messages natp2p's probe and
// introducer exchange: RFC 8489 (RFC 5389) Binding requests and responses
// with the RFC 5780 NAT behaviour discovery attributes (CHANGE-REQUEST,
// RESPONSE-ORIGIN, OTHER-ADDRESS, RESPONSE-PORT, PADDING) and RFC 3489's
// CHANGED-ADDRESS and SOURCE-ADDRESS, which classic servers send.
//
// It is small on purpose: the agent must fit a 16 MB-flash router, and a
// general STUN library brings DTLS and TLS with it (over 1 MB on mipsle).
// Parse never panics and allocates only the attribute list; it is fuzzed
// and its output is checked against github.com/pion/stun in the tests.
package stun
