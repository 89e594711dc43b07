// Package fleetsim generates a simulated fleet of routers for natp2p's
// fleet tests and benchmarks: each router replays a report that the lab
// really produced for one NAT profile (testdata/*.json, saved by
// `natp2p-lab fleet-snapshots`), under a model and firmware of its own, so
// the fleet's compliance table is known before any monitoring system
// computes it. On Linux it also runs the fleet (real natp2p-agent
// processes with --replay) and the servers that watch it (Prometheus,
// victoria-metrics, vmalert).
package fleetsim

// Profile is one lab setup whose report the fleet replays.
type Profile struct {
	Name      string // the template's file name, testdata/<Name>.json
	NAT       string // lab.NAT
	Backend   string // lab.Backend: the router's firewall, and enforce mode's
	Mode      string // observe or enforce
	WANFilter string // lab.WANFilter; "" is open
}

// Profiles are the lab setups the fleet is made of: every NAT profile of
// the lab, enforce mode on both backends, and OpenWrt's WAN filters.
var Profiles = []Profile{
	{Name: "masquerade", NAT: "masquerade", Backend: "nftables", Mode: "observe", WANFilter: "reject"},
	{Name: "masquerade-drop", NAT: "masquerade", Backend: "nftables", Mode: "observe", WANFilter: "drop"},
	{Name: "masquerade-open", NAT: "masquerade", Backend: "nftables", Mode: "observe"},
	{Name: "fully-random", NAT: "masquerade-fully-random", Backend: "nftables", Mode: "observe", WANFilter: "reject"},
	{Name: "snat-pool", NAT: "snat-pool", Backend: "iptables", Mode: "observe", WANFilter: "reject"},
	{Name: "dmz", NAT: "dmz", Backend: "nftables", Mode: "observe", WANFilter: "reject"},
	{Name: "double-nat", NAT: "double-nat", Backend: "nftables", Mode: "observe", WANFilter: "reject"},
	{Name: "none", NAT: "none", Backend: "nftables", Mode: "observe", WANFilter: "reject"},
	{Name: "enforce-nftables", NAT: "masquerade-fully-random", Backend: "nftables", Mode: "enforce", WANFilter: "reject"},
	{Name: "enforce-iptables", NAT: "masquerade", Backend: "iptables", Mode: "enforce", WANFilter: "reject"},
}
