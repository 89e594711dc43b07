//go:build integration

package main

import (
	"context"
	"net/netip"
	"regexp"
	"syscall"
	"testing"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
)

// TestIPTCleanupLeavesNFTRuleset: with the iptables backend on
// iptables-nft, whose nat table and base chains come into being when a
// rule first goes in them, cleanup leaves `nft list ruleset` as it was:
// on a router whose NAT is iptables (the nat table there, without
// PREROUTING until natp2p's hairpin jump), and on one whose NAT is
// nftables (no iptables nat table at all before).
func TestIPTCleanupLeavesNFTRuleset(t *testing.T) {
	if labtest.Flavour() == lab.IptablesLegacy {
		t.Skip("iptables-legacy keeps no nf_tables objects")
	}
	for _, fw := range []lab.Backend{lab.Iptables, lab.Nftables} {
		t.Run("nat-"+string(fw), func(t *testing.T) {
			el := newEnforceLab(t, fw)
			ctx := context.Background()
			before := nftRuleset(t, el)
			el.fw = lab.Iptables // natp2p's backend
			a := newAgent(t, el.Lab)
			el.startEnforcing(t, a)
			udp(t, el.LAN[0], netip.AddrPortFrom(el.LAN[0].Addr(), 5000), server(el.Lab, 0, 4000))
			waitPins(t, a, 1)
			if during := nftRuleset(t, el); during == before {
				t.Fatal("the agent's rules are not in nft list ruleset: the test proves nothing")
			}
			if err := a.Daemon.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			el.Router.Wait(a.Daemon)
			if _, stderr, code, err := a.Run(ctx, "cleanup", "--socket", a.Socket); err != nil || code != 0 {
				t.Fatalf("cleanup: exit %d, %v: %s", code, err, stderr)
			}
			if after := nftRuleset(t, el); after != before {
				t.Errorf("after cleanup nft list ruleset differs:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

var nftCounters = regexp.MustCompile(` counter packets \d+ bytes \d+`)

// nftRuleset is the router's `nft list ruleset` without counters.
func nftRuleset(t *testing.T, el *enforceLab) string {
	t.Helper()
	out, err := el.Router.Run(context.Background(), "nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	return nftCounters.ReplaceAllString(string(out), "")
}
