// Package status holds the plain values enforce mode reports: what the
// enforcer did (Status, PlannerStats), the conntrack timeouts it raised
// (TimeoutChange) and the TCP transitory sysctls. It imports nothing of
// the kernel, so that the report package can read them without linking
// netlink.
package status
