//go:build linux

package enforce

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

// NFTTable is natp2p's nftables table (family ip). Nothing else of the
// ruleset is ever touched; fw4's reload and restart leave it alone.
const NFTTable = "natp2p"

// The table's maps and chains.
const (
	nftPins        = "pins"        // l4proto . private ip . port : public ip . port
	nftRev         = "rev"         // l4proto . public ip . port : private ip . port
	nftPostrouting = "postrouting" // SNAT from pins, just before the router's masquerade
	nftPrerouting  = "prerouting"  // hairpin DNAT, just before the router's port forwards
	nftLearn       = "learn"       // pins each new endpoint from its first packet, just after the router's NAT
)

// nftChunk bounds the set elements of one message (about 40 KB: an
// attribute holds 64 KiB).
const nftChunk = 1024

// nftMapSize bounds each map: two protocols times every port of a public
// address, and then some.
const nftMapSize = 1 << 17

// NFT is the nftables backend: one table of natp2p's own in family ip with
//
//	map pins { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service }
//	map rev  { same types; public -> private }
//	chain postrouting { type nat hook postrouting priority srcnat - 1
//	    oifname WAN snat ip to meta l4proto . ip saddr . th sport map @pins
//	    iifname LAN oifname LAN ct status dnat snat ip to meta l4proto . ip saddr . th sport map @pins
//	    iifname LAN oifname LAN ct status dnat snat ip to (address of) meta l4proto . ip daddr . th dport map @pins }
//	chain prerouting { type nat hook prerouting priority dstnat - 1
//	    iifname LAN dnat ip to meta l4proto . ip daddr . th dport map @rev }
//	chain learn { type filter hook postrouting priority srcnat + 1
//	    oifname WAN iif != 0 ct state new meta l4proto udp meta l4proto . ip saddr . udp sport != @rev
//	        add @pins { meta l4proto . ct original ip saddr . ct original proto-src : ip saddr . udp sport }
//	        add @rev { meta l4proto . ip saddr . udp sport : ct original ip saddr . ct original proto-src }
//	    the same for tcp }
//
// The learn chain runs right after the router's NAT translated a new
// flow's first packet: it pins the private endpoint to the public endpoint
// the NAT chose, in the kernel, before the packet leaves, unless another
// endpoint holds that public endpoint. So no second flow can race a pin
// into the kernel (the agent sees every pin in the conntrack events too,
// and takes care of quotas, reserved ports and expiry). It has one rule
// per protocol because nft lists ct original proto-src only after a
// protocol match.
//
// A flow whose endpoint has no pin misses the lookup and falls through to
// the router's own NAT. One lookup per new flow, whatever the number of
// pins.
type NFT struct {
	rules Rules
	// dial opens each transaction's and request's connection. If nil,
	// dialNFT: a netfilter socket. Tests set it to answer over
	// nltest.Dial.
	dial nftDialer
}

// NewNFT returns the nftables backend. It opens nothing yet.
func NewNFT(r Rules) (*NFT, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &NFT{rules: r}, nil
}

// dialer is n.dial, or dialNFT when it is nil.
func (n *NFT) dialer() nftDialer {
	if n.dial == nil {
		return dialNFT
	}
	return n.dial
}

// Name implements Backend.
func (n *NFT) Name() string { return NameNftables }

// LearnsPins reports that the learn chain pins new endpoints in the
// kernel: with mapping enforcement only, as learned pins serve the SNAT.
func (n *NFT) LearnsPins() bool { return n.rules.Mapping }

// Install implements Backend. The table is deleted and made anew in the
// same transaction as the maps, the rules and the first pins, so there is
// no instant without rules and never a duplicate; the pins that do not fit
// it follow in further transactions (nftBatch.commit), then the learn
// rules. A failure part-way leaves rules that look installed: the Enforcer
// then installs again.
func (n *NFT) Install(pins []Pin) error {
	var b nftBatch
	b.addTable(NFTTable) // "add" makes the delete below succeed when the table is absent
	b.delTable(NFTTable)
	b.addTable(NFTTable)
	// Dynamic maps: the learn chain adds to them from the packet path.
	b.addPinMap(NFTTable, nftPins, 1, nftMapSize)
	b.addPinMap(NFTTable, nftRev, 2, nftMapSize)
	n.addChains(&b)
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(pins))
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftRev, revElements(pins))
	if err := b.commit(n.dialer()); err != nil {
		return nftError("install", err)
	}
	// Learning starts last: learned during the transactions above, a pin
	// could clash with one of the agent's still to come.
	if !n.rules.Mapping {
		return nil
	}
	return nftError("install", n.addLearnRules())
}

// addLearnRules fills the learn chain, rules per protocol (nft lists ct
// original proto-src only after a protocol match).
func (n *NFT) addLearnRules() error {
	var b nftBatch
	for _, p := range []conntrackmap.Proto{conntrackmap.UDP, conntrackmap.TCP} {
		for _, r := range n.learnRules(p) {
			b.addRule(NFTTable, nftLearn, r)
		}
	}
	return b.commit(n.dialer())
}

// Update implements Backend, in one batch: deletions first, so that a pin
// can move in one call.
func (n *NFT) Update(add, del []Pin) error {
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	var b nftBatch
	b.elements(unix.NFT_MSG_DELSETELEM, NFTTable, nftPins, pinKeys(del))
	b.elements(unix.NFT_MSG_DELSETELEM, NFTTable, nftRev, revKeys(del))
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(add))
	b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftRev, revElements(add))
	return nftError("update", b.commit(n.dialer()))
}

// Installed implements Backend: the table is there with every rule.
func (n *NFT) Installed() (bool, error) {
	if ok, err := n.exists(); !ok || err != nil {
		return false, err
	}
	// The learn chain's rules are not counted: the chain must exist; its
	// rules go only with the table.
	if ok, err := nftChainExists(n.dialer(), NFTTable, nftLearn); n.rules.Mapping && (!ok || err != nil) {
		return false, nil
	}
	chains := map[string]int{nftPostrouting: len(n.postRules())}
	if n.rules.Hairpin {
		chains[nftPrerouting] = len(n.preRules())
	}
	for name, want := range chains {
		got, err := nftCountRules(n.dialer(), NFTTable, name)
		if err != nil || got != want { // a chain is missing, or the table went meanwhile
			return false, nil
		}
	}
	return true, nil
}

// Pins implements Backend.
func (n *NFT) Pins() ([]Pin, error) {
	if ok, err := n.exists(); !ok || err != nil {
		return nil, err
	}
	els, err := nftElements(n.dialer(), NFTTable, nftPins)
	if err != nil {
		return nil, nftError("list", err)
	}
	pins := make([]Pin, 0, len(els))
	for _, e := range els {
		if p, ok := pinFromElement(e); ok {
			pins = append(pins, p)
		}
	}
	sortPins(pins)
	return pins, nil
}

// Remove implements Backend.
func (n *NFT) Remove() error {
	var b nftBatch
	b.addTable(NFTTable)
	b.delTable(NFTTable)
	return nftError("remove", b.commit(n.dialer()))
}

// exists reports whether the table is there.
func (n *NFT) exists() (bool, error) {
	tables, err := nftTables(n.dialer(), unix.NFPROTO_IPV4)
	return slices.Contains(tables, NFTTable), err
}

// nftError names the operation and turns the common netlink errors into
// advice.
func nftError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EPERM) || errors.Is(err, os.ErrPermission):
		return fmt.Errorf("nftables %s: permission denied (run as root)", op)
	case errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("nftables %s: the kernel has no nf_tables (load nf_tables, or use --backend iptables)", op)
	}
	return fmt.Errorf("nftables %s: %w", op, err)
}
