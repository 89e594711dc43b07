// Package ctconv turns the kernel's conntrack entries and events
// (github.com/ti-mo/conntrack) into conntrackmap's flows and events, and
// drains queued events into batches for the table. It is the agent's
// per-event path, kept apart from package agent so that agent can be built
// with inlining off (cross/cold-packages) while this code keeps it.
package ctconv
