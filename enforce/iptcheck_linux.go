//go:build linux

package enforce

import (
	"encoding/binary"
	"errors"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The periodic rule check lists the nat table (iptables -S), which legacy
// iptables does by copying the whole table out of the kernel: at 10,000
// pins a large share of a slow CPU, twice a second, while nothing changes.
// An iptStamper reads instead what the kernel says about the table without
// its rules, and the check lists only when that moved since the last
// listing found the rules complete or since one of natp2p's own writes.

// iptStamp identifies a state of the ruleset: equal stamps, no change
// (up to what the stamper can see).
type iptStamp string

// iptStamper reads the current stamp. It opens its socket per call, in
// the calling thread's network namespace. Its errors only make the check
// list, so they are the kernel's, unwrapped.
type iptStamper interface {
	stamp() (iptStamp, error)
}

// iptBackstop bounds how many checks in a row trust an unchanged stamp
// (60 checks: 30 s at the iptables backend's 500 ms): legacy's table info
// misses an edit that keeps the table's size and entry count (a rule
// replaced by one of the same size).
const iptBackstop = 60

// newIPTStamper returns the stamper of iptables' flavour. Each reads only
// its own flavour's state: asking legacy's getsockopt on an iptables-nft
// router would create a legacy nat table beside the nf_tables one.
func newIPTStamper(nft bool) iptStamper {
	if nft {
		return &nftGen{}
	}
	return &legacyInfo{}
}

// legacyInfo stamps legacy iptables' nat table with IPT_SO_GET_INFO, what
// iptables asks first: valid hooks, hook entry points, underflows, entry
// count and size, without the rules.
type legacyInfo struct{}

// iptSoGetInfo is IPT_SO_GET_INFO (IPT_BASE_CTL); x/sys/unix v0.33 lacks it.
const iptSoGetInfo = 64

// iptGetinfoSize is sizeof(struct ipt_getinfo): the table's name
// (XT_TABLE_MAXNAMELEN), valid_hooks, hook_entry[5], underflow[5],
// num_entries, size. The kernel takes no other length.
const iptGetinfoSize = 32 + 4*(1+5+5+1+1)

func (*legacyInfo) stamp() (iptStamp, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var buf [iptGetinfoSize]byte
	copy(buf[:], "nat")
	n := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_IP, iptSoGetInfo,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return "", errno
	}
	return decodeGetinfo(buf[:n])
}

// errStamp: the kernel's answer was not what the stamper expects.
var errStamp = errors.New("unexpected answer")

// decodeGetinfo keeps what follows the table's name in struct ipt_getinfo.
func decodeGetinfo(b []byte) (iptStamp, error) {
	if len(b) != iptGetinfoSize {
		return "", errStamp
	}
	return iptStamp(b[32:]), nil
}

// nftGen stamps iptables-nft's ruleset with nf_tables' generation ID,
// which every committed change in the namespace moves (any table, any
// family: a change elsewhere costs one listing, never a missed one).
type nftGen struct{}

func (*nftGen) stamp() (iptStamp, error) {
	answers, err := nftGet(dialNFT, unix.NFT_MSG_GETGEN, unix.AF_UNSPEC, false, nil)
	for _, a := range answers {
		if id := decodeGen(a); id != nil {
			return iptStamp(id), nil
		}
	}
	if err == nil {
		err = errStamp
	}
	return "", err
}

// nftOneWrite reports whether nf_tables generation after can follow
// before by one write alone (ours): one iptables-nft-restore is one
// transaction, which moves the generation by one (measured with iptables
// 1.8.9, thousands of rules included). Legacy's table info cannot tell.
func nftOneWrite(before, after iptStamp) bool {
	if len(before) != 4 || len(after) != 4 {
		return false
	}
	return binary.BigEndian.Uint32([]byte(after)) == binary.BigEndian.Uint32([]byte(before))+1
}

// decodeGen returns NFTA_GEN_ID (4 bytes, big-endian) from a
// NFT_MSG_NEWGEN message's attributes, or nil.
func decodeGen(b []byte) []byte {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return nil
		}
		if binary.NativeEndian.Uint16(b[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER) == unix.NFTA_GEN_ID && n == 8 {
			return b[4:8]
		}
		b = b[min((n+3)&^3, len(b)):]
	}
	return nil
}

// iptGuard decides when the check must list. It trusts the last listing
// that found the rules complete while the stamp stays where that listing,
// or a write of natp2p's since, left it, for at most iptBackstop checks.
// Check and writes run in different goroutines: it has its own lock.
type iptGuard struct {
	mu      sync.Mutex
	seen    iptStamp // the stamp when the rules were last known complete
	trust   bool     // seen stands for complete rules
	trusted int      // checks answered without a listing since the last
}

// fresh reports whether the rules are known complete at stamp s: no
// listing needed. (No defers here: each costs the router's binary.)
func (g *iptGuard) fresh(s iptStamp) bool {
	g.mu.Lock()
	ok := g.trust && s == g.seen && g.trusted < iptBackstop
	if ok {
		g.trusted++
	}
	g.mu.Unlock()
	return ok
}

// record keeps a listing's verdict, s read before it: a change during
// the listing then shows at the next check.
func (g *iptGuard) record(s iptStamp, ok bool) {
	g.mu.Lock()
	g.seen, g.trust, g.trusted = s, ok, 0
	g.mu.Unlock()
}

// wrote moves the trusted stamp over a write of natp2p's that took it from
// before to after. Trust stays only when the write kept the rules complete
// (ok) and nothing else moved the stamp, before the write (before is the
// stamp trusted) or during it (ok says oneWrite).
func (g *iptGuard) wrote(before, after iptStamp, ok bool) {
	g.mu.Lock()
	g.trust = g.trust && ok && before == g.seen
	g.seen = after
	g.mu.Unlock()
}

// installedCached is Installed's shortcut: true when the stamp shows no
// change since the rules were last known complete. Without a stamper, or
// when the stamp cannot be read, it says nothing (ok false) and returns
// the stamp to record after the listing.
func (t *IPT) installedCached() (s iptStamp, stamped, ok bool) {
	if t.stamper == nil {
		return "", false, false
	}
	s, err := t.stamper.stamp()
	if err != nil {
		return "", false, false
	}
	return s, true, t.guard.fresh(s)
}

// heldPins is Pins' shortcut for the enforcer's periodic read-back: while
// the stamp shows nothing but natp2p's own writes since the rules were
// last known complete, the kernel holds exactly the pins the backend wrote
// (iptables never learns pins by itself), so listing the whole table (at
// 10,000 pins, most of an idle agent's CPU) would only read them back. The
// stamp is read first: a write after it can only add what is in the kernel.
func (t *IPT) heldPins() ([]Pin, bool) {
	if _, _, ok := t.installedCached(); !ok {
		return nil, false
	}
	t.mu.Lock()
	set := t.pins
	var pins []Pin
	if set != nil {
		pins = make([]Pin, 0, len(set.priv))
		for _, k := range set.priv {
			pins = append(pins, set.byKey[k])
		}
	}
	t.mu.Unlock()
	if set == nil {
		return nil, false
	}
	sortPins(pins)
	return pins, true
}

// restoreScript runs iptables-restore on script, carrying the guard's
// trust over it when nothing else changed the ruleset.
func (t *IPT) restoreScript(script []byte) error {
	var before iptStamp
	var err error
	if t.stamper != nil {
		before, err = t.stamper.stamp()
	}
	ok := err == nil
	_, err = t.run.Run(t.restore, script)
	if t.stamper != nil {
		after, serr := t.stamper.stamp()
		t.guard.wrote(before, after, ok && err == nil && serr == nil && (!t.nft || nftOneWrite(before, after)))
	}
	return err
}
