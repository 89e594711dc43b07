//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Requirements reports why a lab with backend b cannot run here (not
// root, a missing tool, namespaces or the firewall not usable), or nil.
// Tests skip with its message.
func Requirements(b Backend) error {
	if b == "" {
		b = Nftables
	}
	if os.Geteuid() != 0 {
		return errors.New("lab: needs root (network namespaces, NAT rules)")
	}
	fw := "nft"
	if b == Iptables {
		fw = "iptables"
	}
	for _, tool := range []string{"ip", "sysctl", "conntrack", fw} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("lab: %s not found in PATH: %w", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return probe(ctx, b)
}

// probe creates a namespace, lists the firewall in it and deletes it.
func probe(ctx context.Context, b Backend) (err error) {
	name := newPrefix() + "-probe"
	if _, err := runCmd(discard, exec.CommandContext(ctx, "ip", "netns", "add", name), nil); err != nil {
		return fmt.Errorf("lab: cannot create a network namespace: %w", err)
	}
	defer func() {
		_, derr := runCmd(discard, exec.CommandContext(context.Background(), "ip", "netns", "del", name), nil)
		err = errors.Join(err, derr)
	}()
	list := []string{"nft", "list", "ruleset"}
	if b == Iptables {
		list = []string{"iptables", "-w", "-t", "nat", "-S"}
	}
	args := append([]string{"netns", "exec", name}, list...)
	if _, err := runCmd(discard, exec.CommandContext(ctx, "ip", args...), nil); err != nil {
		return fmt.Errorf("lab: firewall not usable in a namespace: %w", err)
	}
	return nil
}
