// Package agent is the natp2p daemon and its kernel adapters: it follows
// the kernel's conntrack table into a conntrackmap.Table, reads the
// conntrack sysctls and the router's interfaces, and serves reports on a
// root-only unix control socket.
//
// # Following conntrack
//
// Source subscribes to conntrack's NEW and DESTROY event groups, then
// dumps the table, so that no flow falls between the two. Events are hints:
// when the kernel drops some (ENOBUFS on a full receive buffer) the source
// subscribes again, dumps again and replaces the table, which then equals
// the kernel's again. Only source-NATed UDP and TCP flows whose public
// address is a WAN address count.
//
// # Kernel requirements
//
// nf_conntrack and nf_conntrack_netlink (ctnetlink), and root or
// CAP_NET_ADMIN. With net.netfilter.nf_conntrack_events=0 the kernel sends
// no events; the agent then sees only what its dumps show.
//
// # Namespaces
//
// Everything happens in the network namespace the agent runs in, so
// `ip netns exec ROUTER natp2p-agent run` watches that namespace's NAT.
// The one exception is the LAN-side probe's vantage point: for each probe
// the daemon unshares an anonymous namespace, joins it to the LAN bridge
// with the veth pair np2p-vant0, creates the probe's sockets inside, and
// deletes both when the probe ends (see vantage). It needs veth
// (kmod-veth on OpenWrt) and a bridge as the LAN interface; without them
// the probe runs from the router's LAN address.
package agent
