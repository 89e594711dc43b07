//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Flavour is one of the two iptables implementations Debian's iptables
// package installs side by side: legacy (x_tables, fw3's OpenWrt) and nft
// (iptables rules kept as nf_tables tables).
type Flavour string

// Flavours.
const (
	IptablesNFT    Flavour = "nft"
	IptablesLegacy Flavour = "legacy"
)

// Flavours lists both, nft first (Debian's default).
var Flavours = []Flavour{IptablesNFT, IptablesLegacy}

// FlavourEnv names the flavour a whole test run uses (labtest reads it):
// with NATP2P_IPTABLES=legacy every iptables lab test runs on legacy.
const FlavourEnv = "NATP2P_IPTABLES"

// iptTools are the tools natp2p and the lab run, by their plain names.
var iptTools = []string{"iptables", "iptables-restore", "iptables-save"}

// Dir returns a directory holding iptables, iptables-restore and
// iptables-save as links to f's tools (iptables-legacy, ...), made once
// under the temporary directory. Put first in PATH, it makes the agent, the
// backend and the lab router's rules use f (the agent finds
// iptables-restore beside iptables).
func (f Flavour) Dir() (string, error) {
	if f != IptablesNFT && f != IptablesLegacy {
		return "", fmt.Errorf("lab: unknown iptables flavour %q", f)
	}
	dir := filepath.Join(os.TempDir(), "natp2p-iptables-"+string(f))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, tool := range iptTools {
		target, err := exec.LookPath(strings.Replace(tool, "iptables", "iptables-"+string(f), 1))
		if err != nil {
			return "", fmt.Errorf("lab: iptables flavour %s: %w", f, err)
		}
		link := filepath.Join(dir, tool)
		if got, err := os.Readlink(link); err == nil && got == target {
			continue
		}
		tmp := fmt.Sprintf("%s.%d", link, os.Getpid())
		os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, link); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// PATH returns path with f's Dir first.
func (f Flavour) PATH(path string) (string, error) {
	dir, err := f.Dir()
	if err != nil {
		return "", err
	}
	return dir + string(os.PathListSeparator) + path, nil
}

// CurrentFlavour is the flavour of the iptables in PATH.
func CurrentFlavour(ctx context.Context) (Flavour, error) {
	out, err := exec.CommandContext(ctx, "iptables", "--version").Output()
	switch {
	case err != nil:
		return "", fmt.Errorf("lab: iptables --version: %w", err)
	case bytes.Contains(out, []byte("(legacy)")):
		return IptablesLegacy, nil
	case bytes.Contains(out, []byte("(nf_tables)")):
		return IptablesNFT, nil
	}
	return "", fmt.Errorf("lab: iptables --version: unknown flavour: %s", bytes.TrimSpace(out))
}

// checkFlavour fails an iptables lab whose Config.Flavour is not the
// iptables in PATH: the router's rules and natp2p's would then be of two
// flavours, which one namespace must not mix.
func (c Config) checkFlavour(ctx context.Context) error {
	if c.Flavour == "" || c.Backend != Iptables {
		return nil
	}
	got, err := CurrentFlavour(ctx)
	if err != nil {
		return err
	}
	if got != c.Flavour {
		return fmt.Errorf("lab: iptables in PATH is %s, the lab asks for %s (put Flavour.Dir first in PATH)", got, c.Flavour)
	}
	return nil
}
