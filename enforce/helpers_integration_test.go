//go:build integration

package enforce

import (
	"net/netip"
	"regexp"
	"strings"
)

// labLAN is the network of the lab's br-lan.
var labLAN = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}

var (
	counters = regexp.MustCompile(`\[\d+:\d+\]`)
	comments = regexp.MustCompile(`(?m)^#.*\n`)
)

// stripCounters drops what changes between two listings of the same rules:
// iptables-save's packet counters and dated comment lines.
func stripCounters(s string) string {
	return strings.TrimSpace(comments.ReplaceAllString(counters.ReplaceAllString(s, ""), ""))
}
