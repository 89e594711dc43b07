// Package report turns what the agent observed into the compliance report:
// one verdict per check of DESIGN.md, with a summary and evidence, rendered
// as one screen of text or as the stable JSON document "natp2p.report/v1".
//
// It is pure: the agent gathers the inputs (a conntrackmap.Summary, the
// conntrack sysctls, the WAN addresses, loaded NAT helpers) and Build
// evaluates them.
//
// # Stability
//
// Check IDs, verdict words and the JSON field names are an interface that
// fleets of routers are monitored by: add fields and checks, never rename or
// remove them without a new schema version.
package report
