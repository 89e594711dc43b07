// Package status holds what enforcement did, as plain values: the
// Enforcer's Status for the report, the Planner's counters in it, the
// conntrack timeouts raised, and the sysctls those are.
//
// It is pure, and imports no kernel package: the report reads these values
// without linking the firewall backends (netlink, x/sys) that enforce
// drives. Enforce fills them; the JSON field names are part of the
// report's "natp2p.report/v1" document.
package status
