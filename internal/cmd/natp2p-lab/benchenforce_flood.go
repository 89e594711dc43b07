//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce"
	"github.com/natp2p/natp2p/internal/lab"
)

// floodRates floods the router with new flows: with the stock NAT only,
// then with natp2p's rules (with hairpinning or without) and 0,
// (iptables: 1,000) and 10,000 pins, runs times each, in one lab, the
// agent not running.
func floodRates(ctx context.Context, b lab.Backend, flows, runs int, hairpin bool) ([]floodResult, error) {
	l, err := lab.New(ctx, lab.Config{NAT: lab.MasqueradeFullyRandom, Backend: b, UDPTimeout: 600})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	rules := enforce.Rules{WAN: l.WANIface, LAN: []string{l.LANIface}, Mapping: true, Hairpin: hairpin,
		Sources: []netip.Prefix{netip.PrefixFrom(l.RouterLAN, 24).Masked()}} // br-lan's network
	var be enforce.Backend
	err = l.Router.Do(func() (err error) {
		if b == lab.Iptables {
			be, err = enforce.NewIPT(rules)
		} else {
			be, err = enforce.NewNFT(rules)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	defer l.Router.Do(be.Remove)
	type config struct {
		name  string
		rules bool
		pins  int
	}
	configs := []config{{"stock NAT, no natp2p rules", false, 0}, {"natp2p rules, 0 pins", true, 0}}
	if b == lab.Iptables {
		configs = append(configs, config{fmt.Sprintf("natp2p rules, %s pins", thousands(enfPinsSome)), true, enfPinsSome})
	}
	configs = append(configs, config{fmt.Sprintf("natp2p rules, %s pins", thousands(enfPinsMany)), true, enfPinsMany})
	pins := floodPins(enfPinsMany, l.Public)
	var out []floodResult
	for run := 1; run <= runs; run++ {
		var stock float64
		for _, c := range configs {
			fr := floodResult{config: c.name, run: run, pins: c.pins}
			if err := floodInstall(ctx, l, be, c.rules, pins[:c.pins]); err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			if b == lab.Iptables && c.rules && run == 1 {
				if fr.listCost, fr.stampCost, err = checkCost(l, rules); err != nil {
					return nil, fmt.Errorf("%s: rule check: %w", c.name, err)
				}
			}
			if fr.sent, fr.took, fr.created, err = flood(ctx, l, flows); err != nil {
				return nil, err
			}
			if c.rules {
				if fr.adds, fr.dels, err = updateLatency(l, be); err != nil {
					return nil, fmt.Errorf("%s: updates: %w", c.name, err)
				}
			}
			if !c.rules {
				stock = fr.rate()
			}
			fr.stockRate = stock
			out = append(out, fr)
		}
	}
	return out, nil
}

// floodInstall empties the conntrack table and puts natp2p's rules in
// place with pins, or none without rules.
func floodInstall(ctx context.Context, l *lab.Lab, be enforce.Backend, rules bool, pins []enforce.Pin) error {
	if _, err := l.Conntrack(ctx, "-F"); err != nil {
		return err
	}
	return l.Router.Do(func() error {
		if err := be.Remove(); err != nil || !rules {
			return err
		}
		return be.Install(pins)
	})
}

// flood sends up to flows new flows from LAN host 0, stopped after
// enfFloodLimit, and counts the conntrack entries they made.
func flood(ctx context.Context, l *lab.Lab, flows int) (sent int, took time.Duration, created int, err error) {
	before, err := conntrackCount(ctx, l)
	if err != nil {
		return 0, 0, 0, err
	}
	fctx, cancel := context.WithTimeout(ctx, enfFloodLimit)
	sent, took, err = l.LAN[0].FloodUDP(fctx, l.ServerAddrs, flows, floodSockets)
	cancel()
	if err != nil && (ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded)) {
		return 0, 0, 0, err
	}
	time.Sleep(200 * time.Millisecond) // let any backlog drain
	after, err := conntrackCount(ctx, l)
	return sent, took, after - before, err
}

// floodPins are pins of private endpoints the flood does not use, spread
// over 200 addresses no LAN host has (198.51.100.20 to .219: pins of many
// hosts, as a busy LAN makes them), each on its own public port.
func floodPins(n int, public netip.Addr) []enforce.Pin {
	pins := make([]enforce.Pin, n)
	for i := range pins {
		priv := netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i%200)})
		pins[i] = enforce.Pin{Proto: conntrackmap.UDP,
			Private: netip.AddrPortFrom(priv, uint16(1024+i/200)),
			Public:  netip.AddrPortFrom(public, uint16(1024+i))}
	}
	return pins
}

// enfUpdates is how many pins updateLatency adds and deletes.
const enfUpdates = 100

// updateLatency adds enfUpdates pins to the backend's, one per update, and
// deletes them again, one per update, timing each: what one new endpoint
// costs the backend with the pins in place. Their public address is none
// of the router's (192.0.2.1), so that no pin the nftables backend learned
// from the flood holds one of their public endpoints.
func updateLatency(l *lab.Lab, be enforce.Backend) (adds, dels []time.Duration, err error) {
	err = l.Router.Do(func() error {
		var added []enforce.Pin
		for i := range enfUpdates {
			p := enforce.Pin{Proto: conntrackmap.UDP,
				Private: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i%200)}), uint16(60000+i)),
				Public:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 1}), uint16(60000+i))}
			t0 := time.Now()
			if err := be.Update([]enforce.Pin{p}, nil); err != nil {
				return err
			}
			adds, added = append(adds, time.Since(t0)), append(added, p)
		}
		for _, p := range added {
			t0 := time.Now()
			if err := be.Update(nil, []enforce.Pin{p}); err != nil {
				return err
			}
			dels = append(dels, time.Since(t0))
		}
		return nil
	})
	return adds, dels, err
}

func conntrackCount(ctx context.Context, l *lab.Lab) (int, error) {
	out, err := l.Conntrack(ctx, "-C")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}
