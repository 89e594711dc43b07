//go:build linux

package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
	"github.com/natp2p/natp2p/enforce"
)

// pickBackend resolves "auto" to the firewall the router uses: fw4 means
// nftables and fw3 iptables (OpenWrt). Elsewhere nftables whenever the
// kernel has nf_tables, even under iptables rules (iptables-nft, or legacy
// beside it): natp2p's chains register at NAT priorities next to
// iptables' own, and only nftables pins new endpoints from their first
// packet. iptables only when the kernel has no nf_tables.
func pickBackend(name string) (string, error) {
	if name != "" && name != BackendAuto {
		return name, nil
	}
	for _, fw := range []struct{ path, backend string }{{"/sbin/fw4", BackendNftables}, {"/sbin/fw3", BackendIptables}} {
		if _, err := os.Stat(fw.path); err == nil {
			return fw.backend, nil
		}
	}
	_, err := enforce.NFTTables(0)
	if err == nil && kernelAtLeast(4, 17) {
		return BackendNftables, nil // 4.17: ct original ip saddr, for the learn chain
	}
	if _, lerr := exec.LookPath("iptables"); lerr == nil {
		return BackendIptables, nil
	}
	return "", fmt.Errorf("no firewall to enforce with: nftables answers %v and there is no iptables", err)
}

// kernelAtLeast reports whether the running kernel is major.minor or newer.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return releaseAtLeast(unix.ByteSliceToString(u.Release[:]), major, minor)
}

// releaseAtLeast reads a kernel release ("6.18.0-1-amd64") without
// fmt.Sscanf, whose scanner costs the router's binary about 20 KB.
func releaseAtLeast(release string, major, minor int) bool {
	f := strings.FieldsFunc(release, func(r rune) bool { return r < '0' || r > '9' })
	if len(f) < 2 || !strings.HasPrefix(release, f[0]+"."+f[1]) {
		return false
	}
	ma, err1 := strconv.Atoi(f[0])
	mi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

func newBackend(name string, r enforce.Rules) (enforce.Backend, error) {
	if name == BackendIptables {
		return enforce.NewIPT(r)
	}
	return enforce.NewNFT(r)
}

// iptablesMayHold reports whether natp2p's iptables chains can exist: an
// iptables is installed and, when it is iptables-nft, its nat table exists
// (listing it through iptables-nft would create an empty one).
func iptablesMayHold() bool {
	path, err := exec.LookPath("iptables")
	if err != nil {
		return false
	}
	out, err := exec.Command(path, "-V").Output()
	if err != nil || !strings.Contains(string(out), "nf_tables") {
		return err == nil // legacy: its tables cost nothing to look at
	}
	tables, err := enforce.NFTTables(unix.NFPROTO_IPV4)
	return err == nil && slices.Contains(tables, "nat")
}

// killer deletes conntrack entries over one netlink socket, opened on
// first use.
var killer struct {
	sync.Mutex
	c *conntrack.Conn
}

// killFlow deletes a flow's conntrack entry: its next packet is a new flow
// and takes the pins.
func killFlow(f conntrackmap.Flow) error {
	killer.Lock()
	defer killer.Unlock()
	if killer.c == nil {
		c, err := conntrack.Dial(nil)
		if err != nil {
			return opError("dial", err)
		}
		killer.c = c
	}
	o := f.Orig
	return killer.c.Delete(conntrack.NewFlow(uint8(f.Proto), 0, o.Src.Addr(), o.Dst.Addr(), o.Src.Port(), o.Dst.Port(), 0, 0))
}

// Cleanup removes every trace of enforce mode: natp2p's nftables table,
// its iptables chains (when iptables is installed) and the raised
// conntrack timeouts, restored from the state file. Nothing to remove is
// no error.
func Cleanup(sys System, statePath string) error {
	// Removal needs no interface: any valid Rules will do.
	rules := enforce.Rules{WAN: "cleanup", Mapping: true}
	var backends []enforce.Backend
	nft, err := enforce.NewNFT(rules)
	if err != nil {
		return err
	}
	if _, err := enforce.NFTTables(0); err == nil {
		backends = append(backends, nft) // else the kernel has no nf_tables: nothing of ours there
	}
	if iptablesMayHold() {
		ipt, err := enforce.NewIPT(rules)
		if err != nil {
			return err
		}
		backends = append(backends, ipt)
	}
	err = enforce.Cleanup(backends, sysctlRW{sys}, statePath)
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("cleanup: %w: run as root", err)
	}
	return err
}

// removeLeftovers takes out what an earlier run's enforce mode left and
// this run will not use (a config change restarts the daemon without a
// cleanup): everything in observe mode, the other backend's rules in
// enforce mode. Only a state file says enforce mode ran: without one,
// observe mode touches nothing.
func (a *Agent) removeLeftovers() {
	path := a.statePath()
	if _, err := os.Stat(path); err != nil {
		return
	}
	st, err := enforce.LoadState(path)
	if err != nil {
		a.log.Warn("enforcement state unreadable: run natp2p-agent cleanup", "err", err)
		return
	}
	if a.enforcer == nil {
		if err := Cleanup(a.cfg.System, path); err != nil {
			a.log.Warn("removing what enforce mode left", "err", err)
			return
		}
		a.log.Info("observe mode: removed enforce mode's rules and restored the conntrack timeouts")
		return
	}
	if cur := a.enforcer.Status().Backend; st.Backend != "" && st.Backend != cur {
		old, err := newBackend(st.Backend, enforce.Rules{WAN: "cleanup", Mapping: true})
		if err == nil {
			err = old.Remove()
		}
		if err != nil {
			a.log.Warn("removing the "+st.Backend+" rules of an earlier run", "err", err)
			return
		}
		a.log.Info("removed the rules an earlier run left in " + st.Backend)
	}
}
