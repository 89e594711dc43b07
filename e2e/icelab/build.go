//go:build linux

package icelab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Binaries are the programs a session needs, built by Build.
type Binaries struct {
	Agent, Introducer, Peer string
}

// Build builds natp2p-agent and natp2p-introducer from the natp2p module
// at root (with its own go.mod, static, as shipped) and icepeer from this
// module (whose directory is root/e2e) into dir.
func Build(ctx context.Context, root, dir string) (Binaries, error) {
	b := Binaries{Agent: filepath.Join(dir, "natp2p-agent"), Introducer: filepath.Join(dir, "natp2p-introducer"),
		Peer: filepath.Join(dir, "icepeer")}
	for _, job := range []struct{ bin, dir, pkg string }{
		{b.Agent, root, "./cmd/natp2p-agent"},
		{b.Introducer, root, "./cmd/natp2p-introducer"},
		{b.Peer, filepath.Join(root, "e2e"), "./cmd/icepeer"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", job.bin, job.pkg)
		cmd.Dir = job.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("icelab: building %s: %w\n%s", job.pkg, err, out)
		}
	}
	return b, nil
}
