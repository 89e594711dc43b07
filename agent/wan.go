package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/natp2p/natp2p/report"
)

// wanRetry is the first wait before reading the WAN again after a read
// that said nothing; the waits double up to wanRefresh.
const wanRetry = 100 * time.Millisecond

// errWANGone: the kernel listed the interfaces and the WAN is not among
// them, a definite answer, as are the addresses of a WAN that is there.
var errWANGone = errors.New("the WAN interface is gone")

// wanRead is refreshWAN's state: the poll and the rtnetlink watch both
// call it.
type wanRead struct {
	mu       sync.Mutex
	unknown  bool // the last read failed: the addresses are older
	failures int  // reads failed in a row
}

// readWAN reads a WAN's global unicast addresses (the wan hook). Only
// errWANGone is an answer: any other error, such as EMFILE when the
// process is out of file descriptors, says nothing of the addresses.
func readWAN(name string) (report.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	var errno syscall.Errno
	switch {
	case err != nil && !errors.As(err, &errno):
		return report.Interface{}, fmt.Errorf("%w: no interface %q", errWANGone, name)
	case err != nil && noSuchLink(name):
		// The dump of every link failed, but the kernel, asked for this
		// one name, says it has no such link: an answer.
		return report.Interface{}, fmt.Errorf("%w: no interface %q", errWANGone, name)
	case err != nil:
		return report.Interface{}, fmt.Errorf("read interface %q: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return report.Interface{}, fmt.Errorf("read the addresses of %q: %w", name, err)
	}
	out := report.Interface{Name: name, Addrs: []netip.Addr{}}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsGlobalUnicast() {
			out.Addrs = append(out.Addrs, p.Addr().Unmap())
		}
	}
	return out, nil
}

// warnIfNoWANAddr says so when the WAN has no IPv4 address: until it gets
// one (the address watch and the poll see it come), no flow leaves
// through it NATed to an address of the router's, so the report sees no
// mapping and enforce mode pins nothing.
func (a *Agent) warnIfNoWANAddr() {
	if !hasIPv4(a.wan.Load().Addrs) {
		a.log.Warn("the WAN interface has no IPv4 address: nothing to report or pin until it gets one", "wan", a.cfg.WAN)
	}
}

// pollWAN calls refreshWAN every wanRefresh until ctx is done, and sooner,
// with backoff from wanRetry, while reads fail.
func (a *Agent) pollWAN(ctx context.Context) {
	retry := backoff{min: wanRetry, max: wanRefresh}
	wait := wanRefresh
	for sleep(ctx, wait) {
		if a.refreshWAN() {
			retry.reset()
			wait = wanRefresh
		} else {
			wait = retry.next()
		}
	}
}

// refreshWAN re-reads the WAN addresses and reports whether the kernel
// answered. When they change, the flows the filter keeps change too, so
// the table is resynced from a dump. Only an answer changes them: a failed
// read keeps the addresses, and the pins, as they were (pollWAN retries).
func (a *Agent) refreshWAN() bool {
	a.wanRead.mu.Lock()
	defer a.wanRead.mu.Unlock()
	wan, err := a.hooks.wan(a.cfg.WAN)
	switch {
	case errors.Is(err, errWANGone):
		wan = report.Interface{Name: a.cfg.WAN, Addrs: []netip.Addr{}} // no address is public
	case err != nil:
		a.wanUnknown(err)
		return false
	}
	if r := &a.wanRead; r.unknown {
		a.log.Info("WAN addresses read again", "wan", a.cfg.WAN, "failed_reads", r.failures)
		r.unknown, r.failures = false, 0
	}
	old := a.wan.Swap(&wan)
	if sameAddrs(old.Addrs, wan.Addrs) {
		return true
	}
	a.log.Info("WAN addresses changed; resyncing", "wan", wan.Name, "old", old.Addrs, "new", wan.Addrs)
	if a.enforcer != nil {
		a.enforcer.Retain(a.isPublic)
	}
	a.source.Resync()
	return true
}

// wanUnknown notes a failed read of the WAN, logged once until a read
// succeeds again.
func (a *Agent) wanUnknown(err error) {
	r := &a.wanRead
	r.failures++
	if !r.unknown {
		r.unknown = true
		a.log.Warn("cannot read the WAN addresses; keeping them and the pins, retrying", "wan", a.cfg.WAN,
			"addrs", a.wan.Load().Addrs, "err", err)
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
