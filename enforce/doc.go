// Package enforce makes a stock Linux NAT keep the mappings the guidelines
// of draft-ford-natp2p-00 section 3 ask for, with nothing but firewall rules
// that natp2p owns.
//
// A private endpoint's first source-NATed flow fixes its public endpoint: a
// pin. The Planner, pure Go, decides pins from the flows conntrack reports
// (first come, reserved public ports, a quota per LAN host, removal after a
// grace period). A Backend puts the pins in the kernel: one nftables table
// of our own (NFT) or our own iptables chains (IPT), where an SNAT from the
// pins runs before the router's masquerade, and a DNAT of pinned public
// endpoints arriving from the LAN gives hairpinning. The Enforcer runs the
// two against the agent's conntrack table, puts the rules back when a
// firewall reload or a flush removes them, and raises the conntrack
// timeouts, keeping the old values in a state file so that Cleanup can
// restore them even after a crash. What it did is a status.Status, plain
// data in the pure enforce/status that the report reads.
package enforce
