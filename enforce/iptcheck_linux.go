//go:build linux

package enforce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
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
// the calling thread's network namespace.
type iptStamper interface {
	stamp() (iptStamp, error)
	// oneWrite reports whether after can follow before by one write
	// alone (ours): false when something else wrote in between.
	oneWrite(before, after iptStamp) bool
}

// iptBackstop bounds how long the check trusts an unchanged stamp:
// legacy's table info misses an edit that keeps the table's size and
// entry count (a rule replaced by one of the same size).
const iptBackstop = 30 * time.Second

// newIPTStamper returns the stamper of iptables' flavour. Each reads only
// its own flavour's state: asking legacy's getsockopt on an iptables-nft
// router would create a legacy nat table beside the nf_tables one.
func newIPTStamper(nft bool) iptStamper {
	if nft {
		return nftGen{}
	}
	return legacyInfo{}
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

func (legacyInfo) stamp() (iptStamp, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return "", fmt.Errorf("iptables table info: %w", err)
	}
	defer unix.Close(fd)
	var buf [iptGetinfoSize]byte
	copy(buf[:], "nat")
	n := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_IP, iptSoGetInfo,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return "", fmt.Errorf("iptables table info: %w", errno)
	}
	return decodeGetinfo(buf[:n])
}

// oneWrite: the table info cannot tell how many writes happened.
func (legacyInfo) oneWrite(before, after iptStamp) bool { return true }

// decodeGetinfo checks struct ipt_getinfo and keeps what follows the name.
func decodeGetinfo(b []byte) (iptStamp, error) {
	if len(b) != iptGetinfoSize {
		return "", fmt.Errorf("iptables table info: %d bytes, want %d", len(b), iptGetinfoSize)
	}
	if name := unix.ByteSliceToString(b[:32]); name != "nat" {
		return "", fmt.Errorf("iptables table info: table %q, want nat", name)
	}
	return iptStamp(b[32:]), nil
}

// nftGen stamps iptables-nft's ruleset with nf_tables' generation ID,
// which every committed change in the namespace moves (any table, any
// family: a change elsewhere costs one listing, never a missed one).
type nftGen struct{}

func (nftGen) stamp() (iptStamp, error) {
	c, err := dialNFT()
	if err != nil {
		return "", fmt.Errorf("nf_tables generation: %w", err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: nftMsgType(unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   nfgenmsg(unix.AF_UNSPEC, 0),
	})
	if err != nil {
		return "", fmt.Errorf("nf_tables generation: %w", err)
	}
	for _, m := range msgs {
		if id, ok := decodeGen(m.Data); ok {
			return iptStamp(binary.BigEndian.AppendUint32(nil, id)), nil
		}
	}
	return "", errors.New("nf_tables generation: no NFTA_GEN_ID in the answer")
}

// oneWrite: one iptables-nft-restore is one nf_tables transaction, which
// moves the generation by one (measured with iptables 1.8.9, thousands of
// rules included).
func (nftGen) oneWrite(before, after iptStamp) bool {
	if len(before) != 4 || len(after) != 4 {
		return false
	}
	return binary.BigEndian.Uint32([]byte(after)) == binary.BigEndian.Uint32([]byte(before))+1
}

// decodeGen reads NFTA_GEN_ID from a NFT_MSG_NEWGEN message's data.
func decodeGen(data []byte) (uint32, bool) {
	if len(data) < 4 {
		return 0, false
	}
	ad, err := netlink.NewAttributeDecoder(data[4:]) // after struct nfgenmsg
	if err != nil {
		return 0, false
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID && len(ad.Bytes()) == 4 {
			return ad.Uint32(), true
		}
	}
	return 0, false
}

// iptGuard decides when the check must list. It trusts the last listing
// that found the rules complete while the stamp stays where that listing,
// or a write of natp2p's since, left it, for at most iptBackstop. Check
// and writes run in different goroutines: it has its own lock.
type iptGuard struct {
	mu     sync.Mutex
	seen   iptStamp  // the stamp when the rules were last known complete
	trust  bool      // seen stands for complete rules
	listed time.Time // when the rules were last listed complete
}

// fresh reports whether the rules are known complete at stamp s: no
// listing needed.
func (g *iptGuard) fresh(s iptStamp, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.trust && s == g.seen && now.Sub(g.listed) < iptBackstop
}

// afterList records a listing's verdict, s read before it: a change
// during the listing then shows at the next check.
func (g *iptGuard) afterList(s iptStamp, ok bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen, g.trust, g.listed = s, ok, now
}

// beforeWrite: a stamp moved since the last we know of is a foreign
// change, which our write cannot vouch for.
func (g *iptGuard) beforeWrite(s iptStamp) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s != g.seen {
		g.trust = false
	}
}

// afterWrite moves the trusted stamp over our own write; a failed write or
// an unreadable stamp leaves the next check to list.
func (g *iptGuard) afterWrite(s iptStamp, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.trust = false
		return
	}
	g.seen = s
}

// distrust: the rules are no longer complete (natp2p removed them).
func (g *iptGuard) distrust() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trust = false
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
	return s, true, t.guard.fresh(s, time.Now())
}

// restoreScript runs iptables-restore on script, carrying the guard's trust
// over it when nothing else changed the ruleset just before.
func (t *IPT) restoreScript(script []byte) error {
	if t.stamper == nil {
		_, err := t.run.Run(t.restore, script)
		return err
	}
	before, err := t.stamper.stamp()
	if err != nil {
		before = "" // unknown: no trust carried over
		t.guard.afterWrite("", err)
	} else {
		t.guard.beforeWrite(before)
	}
	_, err = t.run.Run(t.restore, script)
	after, serr := t.stamper.stamp()
	if err == nil && serr == nil && before != "" && !t.stamper.oneWrite(before, after) {
		serr = errForeignWrite
	}
	t.guard.afterWrite(after, errors.Join(err, serr))
	return err
}

// errForeignWrite: the ruleset moved by more than our write.
var errForeignWrite = errors.New("another write besides ours")
