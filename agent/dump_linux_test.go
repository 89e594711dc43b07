package agent

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

func message(t *testing.T, typ netlink.HeaderType, data []byte) []byte {
	t.Helper()
	m := netlink.Message{Header: netlink.Header{Type: typ, Length: uint32(unix.NLMSG_HDRLEN + len(data))}, Data: data}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errno(code int32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(code))
	return b
}

func TestDecodeDump(t *testing.T) {
	s := NewSource(SourceConfig{})
	add := func(conntrackmap.Flow) { t.Error("a flow was added") }
	tests := []struct {
		name string
		in   []byte
		done bool
		err  error
	}{
		{"done", message(t, netlink.Done, errno(0)), true, nil},
		{"kernel error", message(t, netlink.Error, errno(-int32(unix.EOPNOTSUPP))), true, unix.EOPNOTSUPP},
		{"ack", message(t, netlink.Error, errno(0)), true, nil},
		{"empty read", nil, false, nil},
		{"length past the read", append(message(t, netlink.Done, errno(0))[:8], 0, 0), false, unix.EBADMSG},
	}
	long := message(t, netlink.Done, errno(0))
	binary.NativeEndian.PutUint32(long, 4096)
	tests = append(tests, struct {
		name string
		in   []byte
		done bool
		err  error
	}{"length beyond the buffer", long, false, unix.EBADMSG})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, err := s.decodeDump(tt.in, add)
			if done != tt.done || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("decodeDump = %v, %v; want %v, %v", done, err, tt.done, tt.err)
			}
		})
	}
}

func TestDecodeDumpRejectsGarbage(t *testing.T) {
	s := NewSource(SourceConfig{})
	garbage := message(t, netlink.HeaderType(0x0101), []byte{2, 0, 0, 0}) // a ctnetlink message with a bare nfgenmsg
	if _, err := s.decodeDump(garbage, func(conntrackmap.Flow) {}); err == nil {
		t.Error("decodeDump accepted a malformed conntrack message")
	}
}
