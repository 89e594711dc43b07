// Package conntrackmap models a NAT's mappings from the flows the kernel's
// connection tracker reports, without touching the kernel.
//
// Flows go in (New, Update and Destroy events, or a full set from a dump) and
// the Table keeps, for each private endpoint (protocol, private ip:port), the
// public endpoint the NAT gave it and the live sessions that use it. While it
// does so it records the violations of the NAT guidelines of
// draft-ford-natp2p-00 section 3 and RFC 4787 / RFC 5382 that flows can show:
//
//   - inconsistent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1): one private
//     endpoint behind two public endpoints at the same time;
//   - port overloading (RFC 4787 REQ-3): one public endpoint shared by two
//     private endpoints at the same time;
//   - unpaired pooling (RFC 4787 REQ-2): one private host behind two public
//     addresses at the same time.
//
// It also keeps the hairpinned flows apart (a LAN host sent to a public
// endpoint of the NAT, which sent it on to a LAN host; the agent's filter
// marks them): the source the receiver saw (the reply tuple's destination:
// the sender's mapping, another public endpoint, or a private source, RFC
// 4787 REQ-9a) and whether anything came back (IPS_SEEN_REPLY). They are
// the evidence behind enforce mode's hairpin verdict.
//
// # Memory
//
// Memory is proportional to live flows: every map is keyed by fixed-size,
// pointer-free values, and what outlives a flow is a bounded ring of recent
// violations plus counters. BenchmarkBytesPerFlow measures the cost.
//
// # Concurrency
//
// A Table is safe for concurrent use: the daemon applies events from one
// goroutine while the control socket reads summaries from another.
package conntrackmap
