//go:build integration && linux

package lab_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// counters matches iptables-save packet/byte counters such as [12:3456].
var counters = regexp.MustCompile(`\[[0-9]+:[0-9]+\]`)

// hostSnapshot captures the root namespace's network configuration in a
// form that does not change by itself (no lifetimes, counters or dates).
func hostSnapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, argv := range [][]string{
		{"ip", "-br", "link"}, {"ip", "-br", "addr"}, {"ip", "route"},
		{"nft", "-s", "list", "ruleset"}, {"iptables-save"},
	} {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v: %s", argv, err, out)
		}
		b.WriteString("## " + strings.Join(argv, " ") + "\n")
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "#") {
				b.WriteString(counters.ReplaceAllString(line, "") + "\n")
			}
		}
	}
	for _, f := range []string{"net/ipv4/ip_forward", "net/netfilter/nf_conntrack_udp_timeout", "net/netfilter/nf_conntrack_events"} {
		v, _ := os.ReadFile("/proc/sys/" + f)
		b.WriteString(f + "=" + string(v))
	}
	return b.String()
}

// TestHostNamespaceUntouched builds and closes labs of every backend and
// profile and checks the host's own network configuration is unchanged.
func TestHostNamespaceUntouched(t *testing.T) {
	labtest.Require(t, lab.Nftables)
	labtest.Require(t, lab.Iptables)
	before := hostSnapshot(t)
	for _, b := range backends {
		for _, n := range []lab.NAT{lab.Masquerade, lab.MasqueradeFullyRandom, lab.SNATPool, lab.NoNAT} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			l, err := lab.New(ctx, lab.Config{NAT: n, Backend: b, UDPTimeout: 5, Logf: t.Logf})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := hostSnapshot(t); after != before {
		t.Errorf("host namespace changed:\n--- before\n%s\n--- after\n%s", before, after)
	}
}
