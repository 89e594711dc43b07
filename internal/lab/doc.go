// Package lab builds a throw-away network laboratory around a real Linux
// NAT so that natp2p's integration tests can watch the kernel's conntrack
// table while real traffic crosses a real router.
//
// A lab is a set of network namespaces created with `ip netns add`:
//
//	LAN host(s)  eth0 198.51.100.1x/24 ── lanpN ┐
//	                                            br-lan 198.51.100.1/24
//	                                    router  (ip_forward, NAT rules)
//	                                            wan0 203.0.113.1/24 ── eth0 WAN host
//	                                                                   203.0.113.10/24
//	                                                                   203.0.113.11/24
//
// Only documentation ranges are used (198.51.100.0/24 for the LAN,
// 203.0.113.0/24 for the WAN; 192.0.2.0/24 for a second router's LAN,
// 100.64.0.0/24 between DoubleNAT's router and its carrier NAT). Nothing
// is ever added to the host's own (root) namespace: every link is created
// inside a lab namespace, and the veth peers are moved straight into their
// destination namespace.
//
// # Two routers
//
// Config.Second adds a second router with a LAN of its own on the same
// WAN, for end-to-end tests of peer-to-peer software between two NATs:
//
//	LAN A  198.51.100.10, .11 ── br-lan 198.51.100.1  router (r)   wan0 203.0.113.1 ┐
//	                                                                                br-wan (WAN host w)
//	                                                                                203.0.113.10, .11 (servers)
//	                                                                                203.0.113.20 (TURN relay)
//	LAN B  192.0.2.10, ...       ── br-lan 192.0.2.1     router (r2)  wan0 203.0.113.3 ┘
//
// The second LAN is 192.0.2.0/24 (hosts b0, b1, ...); the routers and the
// WAN host's addresses share one bridge, br-wan, in the WAN namespace.
// Each router has its own NAT profile and backend (Masquerade or
// MasqueradeFullyRandom), and drops new inbound traffic on its WAN, as
// OpenWrt's firewall does: an unsolicited packet that reached the router's
// own stack would become a conntrack entry and take the tuple a LAN
// host's hole punch needs. Lab.StartTURN runs coturn as a TURN relay on
// 203.0.113.20:3478 (relay ports 50000-50999). The WAN host and both
// routers route everything else to 203.0.113.254, the rest of the
// internet, whose neighbour entry names a MAC address nobody has: a packet
// to an address that no lab host has (the other router's LAN, which ICE
// tries) vanishes silently instead of failing at once with "network
// unreachable" (coturn closes a TURN allocation whose relay cannot send). Lab.First and Lab.Second
// describe the two routers alike (Site). Building one waits until every
// bridge port forwards (a veth's carrier reaches its bridge through the
// kernel's link watch, up to a second later).
//
// Namespaces are named np<pid>-<hex>-<role> (role r = router, w = WAN,
// l0, l1, ... = LAN hosts; r2 and b0, b1, ... = the second router and its
// LAN hosts; c = DoubleNAT's carrier NAT). Close deletes them; Sweep (also
// run by New) deletes leftovers whose creating process no longer exists.
//
// Neighbour entries between the hosts and the router are installed as
// permanent entries with fixed, locally administered MAC addresses, so no
// packet is ever queued or dropped waiting for ARP (important for FloodUDP).
//
// Kernel notes (checked on 6.18): net.netfilter.nf_conntrack_udp_timeout,
// nf_conntrack_udp_timeout_stream and nf_conntrack_events are per network
// namespace and writable inside one. net.netfilter.nf_conntrack_max is
// read-only (mode 0444) inside a child namespace: the limit is the host's
// value, applied to each namespace's own entry count, so the lab never
// changes it. A namespace only tracks connections once some rule needs
// conntrack, and an empty nat chain is not enough: the NoNAT profile
// therefore installs a `ct state` FORWARD rule (nftables) or a conntrack
// match FORWARD rule (iptables).
//
// NAT mapping facts the tests pin down: for a new flow from an internal
// endpoint that already has a mapping, Linux first reuses that mapping
// (endpoint-independent mapping) unless the rule is fully-random. So under
// SNATPool one socket keeps one public IP for every destination; the pool
// address is picked by hashing source and destination IP only for the
// first flow of each internal endpoint (or when the reused tuple clashes).
//
// Router variants: Config.BridgeNetfilter passes bridged IPv4 traffic
// through the router's hooks (br_netfilter; off by default, as on
// OpenWrt; both routers of a two-router lab), Config.ForwardDropLAN drops
// forwarding between LAN bridges, Config.WANFilter drops or rejects new
// connections from the WAN (nftables or iptables rules, as Backend says);
// AddLANBridge adds a second LAN bridge with hosts (192.0.2.0/24, say),
// AddUplink a second internet connection (100.64.0.0/10, say) with a host
// behind it, and FW4Forward a forward chain like OpenWrt fw4's.
//
// Package labtest wraps New for tests (skip or fail when the lab cannot
// run, Close on cleanup).
package lab
