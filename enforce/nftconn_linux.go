//go:build linux

package enforce

import (
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftConn is what the nftables backend sends through: a *netlink.Conn on a
// netfilter socket (dialNFT) or, in tests, over nltest.Dial.
type nftConn interface {
	SendMessages(msgs []netlink.Message) ([]netlink.Message, error)
	Receive() ([]netlink.Message, error)
	Execute(m netlink.Message) ([]netlink.Message, error)
	Close() error
}

// nftDialer opens the connection of one transaction or request, as
// google/nftables' WithTestDial lets tests replace it.
type nftDialer func() (nftConn, error)

// nftBatchBytes bounds the messages of one transaction: a transaction is
// one sendmsg, which the socket's send buffer (about 200 KiB by default)
// limits. A larger batch goes as several transactions, in order (Install's
// first holds the table, the maps, the rules and over a thousand pins).
const nftBatchBytes = 128 << 10

// nftTimeout bounds the wait for the kernel's answers.
const nftTimeout = 5 * time.Second

// commit sends the batch over a connection of dial's, as one transaction
// when it fits nftBatchBytes, and waits for the kernel's answers: the
// first error, if any.
func (b *nftBatch) commit(dial nftDialer) error {
	if b.err != nil || len(b.msgs) == 0 {
		return b.err
	}
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for start := 0; start < len(b.msgs); {
		end, size := start+1, len(b.msgs[start].Data)
		for end < len(b.msgs) && size+len(b.msgs[end].Data) <= nftBatchBytes {
			size += len(b.msgs[end].Data)
			end++
		}
		if err := transact(c, b.msgs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// dialNFT opens a netfilter netlink socket whose errors do not echo the
// request (NETLINK_CAP_ACK: a failed 60 KB element list would otherwise
// come back whole), with a deadline.
func dialNFT() (nftConn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, err
	}
	c.SetOption(netlink.CapAcknowledge, true) // best effort: older kernels echo
	if err := c.SetDeadline(time.Now().Add(nftTimeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// transact sends msgs as one transaction. Only the last asks for an
// acknowledgement: the kernel reports every failing message anyway, and
// one answer per message would overflow the receive buffer on a large
// batch (a batch that did apply would then look failed).
func transact(c nftConn, msgs []netlink.Message) error {
	out := make([]netlink.Message, 0, len(msgs)+2)
	out = append(out, batchMsg(unix.NFNL_MSG_BATCH_BEGIN))
	for _, m := range msgs {
		m.Header.Flags &^= netlink.Acknowledge
		out = append(out, m)
	}
	out[len(out)-1].Header.Flags |= netlink.Acknowledge
	out = append(out, batchMsg(unix.NFNL_MSG_BATCH_END))
	sent, err := c.SendMessages(out)
	if err != nil {
		return err
	}
	last := sent[len(sent)-2].Header.Sequence
	for {
		replies, err := c.Receive() // an error answer comes back as err
		if err != nil {
			return err
		}
		for _, r := range replies {
			if r.Header.Sequence == last {
				return nil
			}
		}
	}
}

// nftGet runs a get request (a dump when dump) on nf_tables over a
// connection of dial's and returns the answers' attributes.
func nftGet(dial nftDialer, t int, family uint8, dump bool, attrs []netlink.Attribute) ([][]byte, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	flags := netlink.Request
	if dump {
		flags |= netlink.Dump
	}
	msgs, err := c.Execute(netlink.Message{Header: netlink.Header{Type: nftMsgType(t), Flags: flags},
		Data: append(nfgenmsg(family, 0), data...)})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, m := range msgs {
		if len(m.Data) >= 4 {
			out = append(out, m.Data[4:]) // after nfgenmsg
		}
	}
	return out, nil
}

// NFTTables lists the nftables tables of a family (unix.NFPROTO_*; 0 for
// every family). An error means nf_tables cannot be asked (no module, no
// permission).
func NFTTables(family uint8) ([]string, error) {
	return nftTables(dialNFT, family)
}

func nftTables(dial nftDialer, family uint8) ([]string, error) {
	answers, err := nftGet(dial, unix.NFT_MSG_GETTABLE, family, true, nil)
	if err != nil {
		return nil, nftError("list", err)
	}
	var names []string
	for _, a := range answers {
		ad, err := netlink.NewAttributeDecoder(a)
		if err != nil {
			return nil, nftError("list", err)
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_TABLE_NAME {
				names = append(names, ad.String())
			}
		}
	}
	return names, nil
}

// nftChainExists reports whether a chain of a family ip table exists.
func nftChainExists(dial nftDialer, table, chain string) (bool, error) {
	_, err := nftGet(dial, unix.NFT_MSG_GETCHAIN, unix.NFPROTO_IPV4, false, []netlink.Attribute{
		{Type: unix.NFTA_CHAIN_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_CHAIN_NAME, Data: cstr(chain)},
	})
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

// nftCountRules counts a chain's rules without decoding them.
func nftCountRules(dial nftDialer, table, chain string) (int, error) {
	answers, err := nftGet(dial, unix.NFT_MSG_GETRULE, unix.NFPROTO_IPV4, true, []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_RULE_CHAIN, Data: cstr(chain)},
	})
	return len(answers), err
}

// nftElements lists a map's elements.
func nftElements(dial nftDialer, table, set string) ([]nftElem, error) {
	answers, err := nftGet(dial, unix.NFT_MSG_GETSETELEM, unix.NFPROTO_IPV4, true, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstr(table)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstr(set)},
	})
	if err != nil {
		return nil, err
	}
	var out []nftElem
	for _, a := range answers {
		els, err := decodeElements(a)
		if err != nil {
			return nil, fmt.Errorf("decode %s elements: %w", set, err)
		}
		out = append(out, els...)
	}
	return out, nil
}
