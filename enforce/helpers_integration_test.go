//go:build integration

package enforce

import (
	"regexp"
	"strings"
)

var (
	counters = regexp.MustCompile(`\[\d+:\d+\]`)
	comments = regexp.MustCompile(`(?m)^#.*\n`)
)

// stripCounters drops what changes between two listings of the same rules:
// iptables-save's packet counters and dated comment lines.
func stripCounters(s string) string {
	return strings.TrimSpace(comments.ReplaceAllString(counters.ReplaceAllString(s, ""), ""))
}
