//go:build linux

package enforce

import (
	"errors"
	"slices"
	"sort"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// iptNATTable is the nf_tables table iptables-nft keeps the nat table in
// (family ip).
const iptNATTable = "nat"

// Footprint implements footprinter: on iptables-nft, the nat table and its
// base chains before natp2p's rules go in; nil on iptables-legacy, whose
// chains are no nf_tables objects.
func (t *IPT) Footprint() (*NATTable, error) {
	if !t.nft {
		return nil, nil
	}
	nat, _, err := t.natObjects().read()
	if err != nil {
		return nil, err
	}
	return &nat, nil
}

// Sweep implements footprinter: on iptables-nft, after Remove, the nat
// table's base chains absent from before that hold no rule go, and the
// table if it was absent and holds nothing then. `nft list ruleset` is
// then as it was before natp2p.
func (t *IPT) Sweep(before NATTable) error {
	if !t.nft {
		return nil
	}
	return nftError("cleanup", sweepNAT(t.natObjects(), before))
}

// natObjects is t.nat, or the kernel's nat table over netlink.
func (t *IPT) natObjects() natObjects {
	if t.nat != nil {
		return t.nat
	}
	return nftNAT{dial: dialNFT}
}

// nftNAT is natObjects on the kernel's nf_tables over connections of
// dial's.
type nftNAT struct{ dial nftDialer }

func (n nftNAT) read() (NATTable, int, error) {
	nat := NATTable{Chains: []string{}}
	tables, err := nftTables(n.dial, unix.NFPROTO_IPV4)
	if err != nil || !slices.Contains(tables, iptNATTable) {
		return nat, 0, err
	}
	nat.Exists = true
	answers, err := nftGet(n.dial, unix.NFT_MSG_GETCHAIN, unix.NFPROTO_IPV4, true, nil)
	if err != nil {
		return nat, 0, err
	}
	chains := 0
	for _, a := range answers {
		table, name, base, err := decodeChain(a)
		if err != nil {
			return nat, 0, err
		}
		if table == iptNATTable {
			chains++
			if base {
				nat.Chains = append(nat.Chains, name)
			}
		}
	}
	sort.Strings(nat.Chains)
	return nat, chains, nil
}

// decodeChain reads a chain's table, name and whether it is a base chain
// (it has a hook) from an NFT_MSG_NEWCHAIN message's attributes.
func decodeChain(b []byte) (table, name string, base bool, err error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return "", "", false, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_CHAIN_TABLE:
			table = ad.String()
		case unix.NFTA_CHAIN_NAME:
			name = ad.String()
		case unix.NFTA_CHAIN_HOOK:
			base = true
		}
	}
	return table, name, base, ad.Err()
}

func (n nftNAT) rules(chain string) (int, error) { return nftCountRules(n.dial, iptNATTable, chain) }

// delChain deletes an empty chain. NLM_F_NONREC makes the kernel refuse
// (EBUSY) a chain that holds rules, as one another program just added:
// it stays.
func (n nftNAT) delChain(chain string) error {
	var b nftBatch
	b.add(unix.NFT_MSG_DELCHAIN, unix.NLM_F_NONREC, []netlink.Attribute{
		{Type: unix.NFTA_CHAIN_TABLE, Data: cstr(iptNATTable)},
		{Type: unix.NFTA_CHAIN_NAME, Data: cstr(chain)},
	})
	return ignoreBusy(b.commit(n.dial))
}

// delTable deletes the table if it is empty (NLM_F_NONREC, as delChain).
func (n nftNAT) delTable() error {
	var b nftBatch
	b.add(unix.NFT_MSG_DELTABLE, unix.NLM_F_NONREC, []netlink.Attribute{{Type: unix.NFTA_TABLE_NAME, Data: cstr(iptNATTable)}})
	return ignoreBusy(b.commit(n.dial))
}

func ignoreBusy(err error) error {
	if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

var _ footprinter = (*IPT)(nil)
