//go:build linux

package enforce

import (
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// nftRecorder is a kernel that accepts every change: it records what the
// backend sends (over nltest.Dial, through NFT.dial), acknowledges what
// asks for it, and answers get requests with answer's messages (none if
// answer is nil).
type nftRecorder struct {
	t      *testing.T
	sent   [][]netlink.Message // one slice per sendmsg
	answer func(req netlink.Message) []netlink.Message
}

func newNFTRecorder(t *testing.T) *nftRecorder {
	t.Helper()
	return &nftRecorder{t: t}
}

// backend is an NFT of rules that sends through the recorder.
func (r *nftRecorder) backend(rules Rules) *NFT {
	r.t.Helper()
	n, err := NewNFT(rules)
	if err != nil {
		r.t.Fatal(err)
	}
	n.dial = func() (nftConn, error) { return nltest.Dial(r.serve), nil }
	return n
}

func (r *nftRecorder) serve(req []netlink.Message) ([]netlink.Message, error) {
	r.sent = append(r.sent, req)
	var out []netlink.Message
	for _, m := range req {
		switch {
		case isGet(m) && m.Header.Flags&netlink.Dump == netlink.Dump:
			out = append(out, r.dump(m)...)
		case isGet(m) && r.answer != nil:
			out = append(out, reply(m, r.answer(m)...)...)
		}
		if m.Header.Flags&netlink.Acknowledge != 0 {
			ack, _ := nltest.Error(0, []netlink.Message{m})
			out = append(out, ack...)
		}
	}
	return out, nil
}

// isGet reports whether m is an nf_tables get request.
func isGet(m netlink.Message) bool {
	switch m.Header.Type {
	case nftMsgType(unix.NFT_MSG_GETTABLE), nftMsgType(unix.NFT_MSG_GETCHAIN), nftMsgType(unix.NFT_MSG_GETRULE),
		nftMsgType(unix.NFT_MSG_GETSET), nftMsgType(unix.NFT_MSG_GETSETELEM):
		return true
	}
	return false
}

// dump answers a dump request with answer's messages, multipart and
// closed by NLMSG_DONE, as the kernel does (even when there is nothing,
// which nltest.Multipart does not mark).
func (r *nftRecorder) dump(req netlink.Message) []netlink.Message {
	var msgs []netlink.Message
	if r.answer != nil {
		msgs = r.answer(req)
	}
	msgs = append(msgs, netlink.Message{Header: netlink.Header{Type: netlink.Done}, Data: make([]byte, 4)})
	for i := range msgs {
		msgs[i].Header.Flags |= netlink.Multi
	}
	return reply(req, msgs...)
}

// reply gives msgs req's sequence number and port.
func reply(req netlink.Message, msgs ...netlink.Message) []netlink.Message {
	for i := range msgs {
		msgs[i].Header.Sequence, msgs[i].Header.PID = req.Header.Sequence, req.Header.PID
	}
	return msgs
}

// nftAnswer is an answer of nf_tables: nfgenmsg and attributes.
func nftAnswer(t int, attrs ...netlink.Attribute) netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: nftMsgType(t)},
		Data: append(nfgenmsg(unix.NFPROTO_IPV4, 0), nltest.MustMarshalAttributes(attrs)...)}
}

// nftKernel answers get requests as a kernel holding natp2p's table with
// chains of the given rule counts (a missing chain: ENOENT) and the map
// pins of pins.
func nftKernel(tables []string, rules map[string]int, pins []Pin) func(req netlink.Message) []netlink.Message {
	return func(req netlink.Message) []netlink.Message {
		attrs, _ := netlink.UnmarshalAttributes(req.Data[4:])
		var name string
		for _, a := range attrs {
			if a.Type == unix.NFTA_CHAIN_NAME || a.Type == unix.NFTA_RULE_CHAIN { // a GETCHAIN's, a GETRULE's
				name = strings.TrimRight(string(a.Data), "\x00")
			}
		}
		var out []netlink.Message
		switch req.Header.Type {
		case nftMsgType(unix.NFT_MSG_GETTABLE):
			for _, t := range tables {
				out = append(out, nftAnswer(unix.NFT_MSG_NEWTABLE, netlink.Attribute{Type: unix.NFTA_TABLE_NAME, Data: cstr(t)}))
			}
		case nftMsgType(unix.NFT_MSG_GETCHAIN), nftMsgType(unix.NFT_MSG_GETRULE):
			if _, ok := rules[name]; !ok {
				out, _ = nltest.Error(int(unix.ENOENT), []netlink.Message{req})
				return out
			}
			if req.Header.Type == nftMsgType(unix.NFT_MSG_GETCHAIN) {
				return []netlink.Message{nftAnswer(unix.NFT_MSG_NEWCHAIN, netlink.Attribute{Type: unix.NFTA_CHAIN_NAME, Data: cstr(name)})}
			}
			for range rules[name] {
				out = append(out, nftAnswer(unix.NFT_MSG_NEWRULE, netlink.Attribute{Type: unix.NFTA_RULE_CHAIN, Data: cstr(name)}))
			}
		case nftMsgType(unix.NFT_MSG_GETSETELEM):
			var b nftBatch
			b.elements(unix.NFT_MSG_NEWSETELEM, NFTTable, nftPins, pinElements(pins))
			for _, m := range b.msgs {
				out = append(out, netlink.Message{Header: netlink.Header{Type: m.Header.Type}, Data: m.Data})
			}
		}
		return out
	}
}
