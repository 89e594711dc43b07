//go:build integration

package main

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/lab/labtest"
	"github.com/natp2p/natp2p/report"
)

// TestEnforceHairpinBridgeNetfilter runs enforce mode through the binary
// on both backends, with the router's bridge netfilter off (OpenWrt) and
// on (Debian-based routers, docker hosts), and a second LAN bridge: a LAN
// host sending to another's public endpoint, on its bridge or on the
// other, reaches it from its own public endpoint, never from its private
// one (RFC 4787 REQ-9a).
func TestEnforceHairpinBridgeNetfilter(t *testing.T) {
	for _, c := range backendsAndBridgeNF {
		t.Run(c.name(), func(t *testing.T) {
			l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: c.fw, BridgeNetfilter: c.brnf})
			ctx := context.Background()
			other, err := l.AddLANBridge(ctx, "br-lan2", netip.MustParsePrefix("192.0.2.1/24"), 1)
			if err != nil {
				t.Fatal(err)
			}
			el := &enforceLab{Lab: l, fw: c.fw, lans: l.LANIface + ",br-lan2"}
			if err := l.WAN.UDPEcho(server(l, 0, 4000)); err != nil {
				t.Fatal(err)
			}
			a := newAgent(t, l)
			el.startEnforcing(t, a)
			hosts := []*lab.NS{l.LAN[0], l.LAN[1], other[0]}
			var privs, pubs []netip.AddrPort
			var socks []*lab.UDPSession
			for i, h := range hosts {
				priv := netip.AddrPortFrom(h.Addr(), uint16(5000+1000*i))
				socks = append(socks, udp(t, h, priv, server(l, 0, 4000)))
				privs, pubs = append(privs, priv), append(pubs, onePublic(t, l, priv))
			}
			waitPins(t, a, len(hosts)) // the iptables backend pins from the event stream
			for _, p := range []struct {
				what     string
				from, to int
			}{{"within br-lan", 0, 1}, {"br-lan2 to br-lan", 2, 1}, {"br-lan to br-lan2", 0, 2}} {
				if _, err := socks[p.from].Send(ctx, pubs[p.to]); err != nil {
					t.Fatal(err)
				}
				if heard := socks[p.to].Heard(ctx, pubs[p.from], privs[p.from]); !slices.Equal(heard, []netip.AddrPort{pubs[p.from]}) {
					t.Errorf("%s: %v heard %v's hairpinned datagram from %v, want only its public endpoint %v",
						p.what, privs[p.to], privs[p.from], heard, pubs[p.from])
				}
			}
		})
	}
}

// onePublic returns private's one public endpoint, as conntrack shows it.
func onePublic(t *testing.T, l *lab.Lab, private netip.AddrPort) netip.AddrPort {
	t.Helper()
	pubs := kernelPublics(t, l, "udp", private)
	if len(pubs) != 1 {
		t.Fatalf("%v has public endpoints %v, want one", private, pubs)
	}
	return pubs[0]
}

// TestEnforceUplinkStaysClosed: a router with a second uplink, whose
// forward chain accepts anything DNATed as fw4's does: the agent, left to
// detect the LAN interfaces, does not take the uplink for one (by its
// carrier-shared address, or by the default route through it), and an
// unsolicited datagram from the uplink's side to a LAN host's public
// endpoint does not reach it. Hairpinning on the LAN still works.
func TestEnforceUplinkStaysClosed(t *testing.T) {
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		for _, up := range []struct {
			name         string
			router, host string
			defaultRoute bool
		}{
			{"shared-address", "100.64.1.1/24", "100.64.1.10/24", false},
			{"default-route", "192.0.2.1/24", "192.0.2.10/24", true},
		} {
			t.Run(string(fw)+"/"+up.name, func(t *testing.T) {
				l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: fw})
				ctx := context.Background()
				far, err := l.AddUplink(ctx, "wan1", netip.MustParsePrefix(up.router), netip.MustParsePrefix(up.host), up.defaultRoute)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.FW4Forward(ctx); err != nil {
					t.Fatal(err)
				}
				if err := l.WAN.UDPEcho(server(l, 0, 4000)); err != nil {
					t.Fatal(err)
				}
				a := newAgent(t, l)
				if err := a.Start(ctx, "--mode", "enforce", "--backend", string(fw)); err != nil {
					t.Fatal(err)
				}
				if r, _ := getReport(t, a); slices.ContainsFunc(r.LAN, func(i report.Interface) bool { return i.Name == "wan1" }) {
					t.Errorf("the uplink wan1 was taken for a LAN interface: %+v", r.LAN)
				}
				privB := netip.AddrPortFrom(l.LAN[1].Addr(), 6000)
				sB := udp(t, l.LAN[1], privB, server(l, 0, 4000))
				waitPins(t, a, 1)
				pubB := onePublic(t, l, privB)
				s, err := far.OpenUDP(netip.AddrPortFrom(far.Addr(), 5555))
				if err != nil {
					t.Fatal(err)
				}
				if replied, _ := s.Send(ctx, pubB); len(replied) != 0 {
					t.Errorf("the uplink's side got an answer from %v", pubB)
				}
				// Heard from anywhere: a hairpin SNAT would show it from the
				// router's public address.
				if heard := sB.Heard(ctx, s.Local, netip.AddrPortFrom(l.Public, 0)); len(heard) != 0 {
					t.Errorf("B heard %v from the uplink's side: inbound opened", heard)
				}
				sA := udp(t, l.LAN[0], netip.AddrPortFrom(l.LAN[0].Addr(), 5000), server(l, 0, 4000))
				sA.Send(ctx, pubB)
				if heard := sB.Heard(ctx, netip.AddrPortFrom(l.Public, 0)); len(heard) != 1 {
					t.Errorf("B heard nothing of A's hairpinned datagram to %v", pubB)
				}
			})
		}
	}
}

// TestEnforceWANAsLANRefused: the WAN named among the LAN interfaces is a
// configuration error: check-config reports it, and the daemon refuses to
// start with either backend, so nothing opens inbound.
func TestEnforceWANAsLANRefused(t *testing.T) {
	for _, fw := range []lab.Backend{lab.Nftables, lab.Iptables} {
		t.Run(string(fw), func(t *testing.T) { testWANAsLANRefused(t, fw) })
	}
}

func testWANAsLANRefused(t *testing.T, fw lab.Backend) {
	l := labtest.New(t, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: fw})
	a := newAgent(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // bounds a daemon that starts
	defer cancel()
	lan := l.LANIface + "," + l.WANIface
	if _, stderr, code, err := a.Run(ctx, "check-config", "--config", "", "--wan", l.WANIface, "--lan", lan); err != nil || code != exitUsage ||
		!strings.Contains(stderr, "the WAN wan0 is among the LAN interfaces") {
		t.Errorf("check-config with the WAN as a LAN: exit %d, %v, stderr %q; want %d and the error", code, err, stderr, exitUsage)
	}
	_, stderr, code, err := a.Run(ctx, "run", "--socket", a.Socket, "--mode", "enforce", "--backend", string(fw), "--wan", l.WANIface, "--lan", lan)
	if err != nil || code != exitUsage || !strings.Contains(stderr, "the WAN wan0 is among the LAN interfaces") {
		t.Errorf("run with the WAN as a LAN: exit %d, %v, stderr %q; want %d and the error", code, err, stderr, exitUsage)
	}
	if out, _ := l.Router.Run(ctx, "nft", "list", "ruleset"); strings.Contains(strings.ToLower(string(out)), "natp2p") {
		t.Errorf("rules installed:\n%s", out)
	}
	if out, _ := l.Router.Run(ctx, "iptables-save"); strings.Contains(string(out), "NATP2P") {
		t.Errorf("iptables rules installed:\n%s", out)
	}
}
