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
// 203.0.113.0/24 for the WAN). Nothing is ever added to the host's own
// (root) namespace: every link is created inside a lab namespace, and the
// veth peers are moved straight into their destination namespace.
//
// Namespaces are named np<pid>-<hex>-<role> (role r = router, w = WAN,
// l0, l1, ... = LAN hosts). Close deletes them; Sweep (also run by New)
// deletes leftovers whose creating process no longer exists.
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
// OpenWrt), Config.ForwardDropLAN drops forwarding between LAN bridges;
// AddLANBridge adds a second LAN bridge with hosts (192.0.2.0/24, say),
// AddUplink a second internet connection (100.64.0.0/10, say) with a host
// behind it, and FW4Forward a forward chain like OpenWrt fw4's.
//
// Package labtest wraps New for tests (skip or fail when the lab cannot
// run, Close on cleanup).
package lab
