//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// benchEnforceFloods is bench-enforce's floods and updates alone (about a
// minute a run per target): new flows per second with 0, (iptables: 1,000)
// and 10,000 pins next to the stock NAT, and one pin added and deleted
// through the backend with them in place; natp2p's rules with hairpinning
// or without. only names the targets to measure, all when empty.
func benchEnforceFloods(ctx context.Context, w io.Writer, flows, runs int, hairpin bool, only []string) error {
	start := time.Now()
	for _, name := range only {
		if !slices.Contains([]string{"nftables", "iptables-nft", "iptables-legacy"}, name) {
			return fmt.Errorf("unknown target %q: use nftables, iptables-nft or iptables-legacy", name)
		}
	}
	var labels []string
	floods := map[string][]floodResult{}
	for _, t := range benchTargets(w) {
		name := t.String()
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		labels = append(labels, name)
		err := t.within(func() (err error) {
			floods[name], err = floodRates(ctx, t.backend, flows, runs, hairpin)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s flood: %w", name, err)
		}
	}
	if len(labels) == 0 {
		return fmt.Errorf("none of %v is installed here", only)
	}
	fmt.Fprintf(w, "natp2p-agent enforce mode, lab NAT masquerade fully-random, hairpinning %t; kernel %s, %s, %s (%v)\n\n",
		hairpin, kernelRelease(), toolVersion("iptables-legacy", "--version"), toolVersion("nft", "--version"),
		time.Since(start).Round(time.Second))
	printFloods(w, labels, floods, flows)
	return nil
}
