//go:build integration

package main

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/labagent"
	"github.com/natp2p/natp2p/report"
)

// forgedPerVictim is how many datagrams a LAN host forges from another's
// address: more than that host's pin quota (2,048).
const forgedPerVictim = 2100

// TestEnforceForgedSourceCannotTakeAHostsMappings: LAN host 0 forges
// host 1's address from 2,100 source ports, to destinations that never
// answer. Host 1's next endpoint still keeps one public port for two
// destinations, and the report counts the forged pins that made room.
func TestEnforceForgedSourceCannotTakeAHostsMappings(t *testing.T) {
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		t.Run(string(fw), func(t *testing.T) {
			el := newEnforceLab(t, fw)
			a := newAgent(t, el.Lab)
			el.startEnforcing(t, a)
			victim := el.LAN[1].Addr()
			forge(t, el, []netip.Addr{victim}, forgedPerVictim)
			settled(t, a, forgedPerVictim, 60*time.Second)
			consistent(t, el, a, netip.AddrPortFrom(victim, 7000))
			r, _ := getReport(t, a)
			e := r.Enforcement
			if e.Evicted == 0 || e.Reinstalls != 0 {
				t.Errorf("report enforcement %+v: want forged pins evicted and no reinstall", *e)
			}
			t.Logf("report: %s", r.Check(report.IDMappingStable).Evidence)
		})
	}
}

// TestEnforceForgedFloodCannotStopOthersMappings: LAN host 0 forges 50
// addresses no LAN host has, 1,400 new endpoints each (70,000 datagrams,
// more than the public address has ports), to destinations that never
// answer. Host 1's next endpoint still keeps one public port for two
// destinations; the report shows the unreplied pins dropped to make room
// and no firewall reload. On both backends: the nftables backend's kernel
// learns a pin from every packet, the iptables backend's agent from the
// event stream, by the same planner and budgets.
func TestEnforceForgedFloodCannotStopOthersMappings(t *testing.T) {
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		t.Run(string(fw), func(t *testing.T) { testForgedFlood(t, fw) })
	}
}

func testForgedFlood(t *testing.T, fw lab.Backend) {
	el := newEnforceLab(t, fw)
	a := newAgent(t, el.Lab)
	el.startEnforcing(t, a)
	var srcs []netip.Addr
	for i := range 50 {
		srcs = append(srcs, netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)}))
	}
	forge(t, el, srcs, 1400)
	settled(t, a, 2048, 90*time.Second)
	consistent(t, el, a, netip.AddrPortFrom(el.LAN[1].Addr(), 7000))
	r, _ := getReport(t, a)
	e := r.Enforcement
	if e.Evicted == 0 || e.Unreplied > 4096 || e.Reinstalls != 0 {
		t.Errorf("report enforcement %+v: want unreplied pins evicted, at most 4,096 held, no reinstall", *e)
	}
	t.Logf("report: %s", r.Check(report.IDMappingStable).Evidence)
}

// forge sends perSource forged datagrams from each of srcs, from LAN host 0.
// The bound is generous: each datagram is a new flow the router's
// firewall walks, and the iptables backend's linear rules (4 per pin, up
// to 4,096 pins) and their updates slow a flood of 70,000 from about
// 3 s (nftables) to 50 s on a loaded lab machine.
func forge(t *testing.T, el *enforceLab, srcs []netip.Addr, perSource int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	sent, took, err := el.LAN[0].ForgeUDP(ctx, srcs, el.ServerAddrs, perSource)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forged %d datagrams from %d sources in %v", sent, len(srcs), took.Round(time.Millisecond))
}

// settled waits (bounded) until the agent has taken at least n new
// endpoints (pinned or refused) and its counters have not moved for three
// seconds. A flood's events overflow the agent's socket: it then reads
// the rest from a dump, which it counts only as it pins them.
func settled(t *testing.T, a *labagent.Agent, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last, since := uint64(0), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		r, _, err := a.Report(context.Background())
		if err != nil || r.Enforcement == nil {
			t.Logf("report during the flood: %v", err) // it may time out while the agent resyncs
			continue
		}
		e := r.Enforcement
		seen := e.Pinned + e.QuotaHits + e.NoPort + e.PressureHits + e.Removed
		if seen != last {
			last, since = seen, time.Now()
		} else if seen >= uint64(n) && time.Since(since) >= 3*time.Second {
			t.Logf("agent settled: %+v, reinstalls %d, pins put back %d", e.PlannerStats, e.Reinstalls, e.PinsPutBack)
			return
		}
	}
	t.Logf("agent still busy after %v: %d endpoints taken", limit, last)
}

// consistent checks that a fresh endpoint of LAN host 1 keeps one public
// port for two destinations, the second sent once the agent has taken the
// endpoint (pinned it, or refused it).
func consistent(t *testing.T, el *enforceLab, a *labagent.Agent, priv netip.AddrPort) {
	t.Helper()
	ctx := context.Background()
	s, err := el.LAN[1].OpenUDP(priv)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	echoed := func(dst netip.AddrPort) bool {
		for range 3 { // a moved endpoint's first flow is deleted: its echo may be lost
			if got, err := s.Send(ctx, dst); err == nil && len(got) == 1 {
				return true
			}
		}
		return false
	}
	taken := func() uint64 {
		r, _ := getReport(t, a)
		e := r.Enforcement
		return e.Pinned + e.QuotaHits + e.NoPort + e.PressureHits
	}
	before := taken()
	if !echoed(server(el.Lab, 0, 4000)) {
		t.Fatalf("%s: no echo from %v", priv, server(el.Lab, 0, 4000))
	}
	// The report answers after the update of the kernel's rules.
	waitFor(t, 20*time.Second, "the agent to take "+priv.String(), func() (bool, string) {
		n := taken()
		return n > before, fmt.Sprintf("%d endpoints taken, %d before", n, before)
	})
	if !echoed(server(el.Lab, 1, 4001)) {
		t.Fatalf("%s: no echo from %v", priv, server(el.Lab, 1, 4001))
	}
	if pubs := kernelPublics(t, el.Lab, "udp", priv); len(pubs) != 1 {
		t.Errorf("udp %s has public endpoints %v in conntrack, want one", priv, pubs)
	}
}
