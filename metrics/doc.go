// Package metrics writes natp2p's report as Prometheus metrics: the text
// exposition format 0.0.4, by hand, so that the agent links no client
// library (prometheus/client_golang and its dependencies would not fit the
// router's size budget).
//
// It is pure: Write renders an Input (a report.Report, the table's counts
// and the daemon's probe counters, build and device facts) and touches
// nothing else. ReadDevice reads the device facts from an OpenWrt (or
// other Linux) file system under a root that tests point at fixtures.
//
// # Series
//
// Every series is named natp2p_..., in base units (seconds), with _total
// counters and _info metadata. Checks and probe behaviours are state sets,
// as kube-state-metrics encodes phases: one series per state, every state
// present, exactly one at 1. No label holds an IP address, a port or a MAC:
// a router's series stay bounded by checks × states. docs/metrics.md lists
// every series; a test keeps the list and Write's output in step.
//
// # Stability
//
// Names, labels and state values are an interface fleets are monitored by,
// as the report's JSON is: add series, never rename or remove one.
package metrics
