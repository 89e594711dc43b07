//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/natp2p/natp2p/internal/fleetsim"
	"github.com/natp2p/natp2p/internal/lab"
	"github.com/natp2p/natp2p/internal/labagent"
)

// fleetSnapshots runs the daemon in a lab for each of fleetsim's NAT
// profiles, with demo's traffic and both probes, and saves its `report
// --json` as out/<profile>.json: the templates the simulated fleet is
// generated from (internal/fleetsim/testdata).
func fleetSnapshots(ctx context.Context, w io.Writer, bin, introducerBin, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, p := range fleetsim.Profiles {
		say(w, "%s: %s NAT, %s, %s mode, WAN %s", p.Name, p.NAT, p.Backend, p.Mode, or(p.WANFilter, "open"))
		b, err := snapshotOf(ctx, bin, introducerBin, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		if err := os.WriteFile(filepath.Join(out, p.Name+".json"), b, fs.FileMode(0o644)); err != nil {
			return err
		}
	}
	return nil
}

// snapshotOf builds p's lab, runs the daemon there and returns its
// report as JSON.
func snapshotOf(ctx context.Context, bin, introducerBin string, p fleetsim.Profile) ([]byte, error) {
	l, err := lab.New(ctx, lab.Config{NAT: lab.NAT(p.NAT), Backend: lab.Backend(p.Backend), WANFilter: lab.WANFilter(p.WANFilter)})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	dir, err := os.MkdirTemp("", "natp2p-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	a := labagent.New(l, bin, dir)
	if err := l.StartIntroducer(ctx, introducerBin, "--log-level", "warn"); err != nil {
		return nil, err
	}
	args := []string{"--introducer", netip.AddrPortFrom(l.ServerAddrs[0], 3478).String(), "--mode", p.Mode}
	if p.Mode == "enforce" {
		args = append(args, "--backend", p.Backend, "--lan", l.LANIface)
	}
	if err := a.Start(ctx, args...); err != nil {
		return nil, err
	}
	if err := demoTraffic(ctx, io.Discard, l); err != nil {
		return nil, err
	}
	waitProbes(ctx, a)
	stdout, stderr, code, err := a.Run(ctx, "report", "--json", "--socket", a.Socket)
	if err != nil {
		return nil, err
	}
	if code > 1 || stdout == "" {
		return nil, fmt.Errorf("report --json exited %d: %s", code, stderr)
	}
	return []byte(stdout), nil
}
