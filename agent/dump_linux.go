//go:build linux

package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"

	"github.com/natp2p/natp2p/conntrackmap"
)

// The dump reads the kernel's answer one socket read at a time and hands
// each kept flow on at once. conntrack.Conn.Dump would first collect every
// reply message and then decode every flow (about 800 bytes a flow on
// amd64): tens of megabytes at 65,536 flows, too much for a router.
const (
	ipctnlMsgCtGet = 1                // IPCTNL_MSG_CT_GET
	dumpReadBuffer = 64 << 10         // one recvmsg of a dump
	dumpTimeout    = 30 * time.Second // a dump the kernel stops answering
)

// Dump returns the kernel's current flows that the filter keeps.
func (s *Source) Dump(ctx context.Context) ([]conntrackmap.Flow, error) {
	var flows []conntrackmap.Flow
	err := s.dump(ctx, func(f conntrackmap.Flow) { flows = append(flows, f) })
	return flows, err
}

// dump streams the kernel's flows that the filter keeps into add.
func (s *Source) dump(ctx context.Context, add func(conntrackmap.Flow)) error {
	fd, err := dumpSocket()
	if err != nil {
		return opError("dial", err)
	}
	defer unix.Close(fd)
	if err := sendDumpRequest(fd); err != nil {
		return opError("dump", err)
	}
	buf := make([]byte, dumpReadBuffer)
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue // a signal (the Go runtime's preemption): SO_RCVTIMEO keeps the kernel from restarting the call
		}
		if err != nil {
			return opError("dump", err)
		}
		if done, err = s.decodeDump(buf[:n], add); err != nil {
			return opError("dump", err)
		}
	}
	return nil
}

func dumpSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return -1, err
	}
	tv := unix.NsecToTimeval(dumpTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func sendDumpRequest(fd int) error {
	req, err := netfilter.MarshalNetlink(netfilter.Header{
		SubsystemID: netfilter.NFSubsysCTNetlink,
		MessageType: netfilter.MessageType(ipctnlMsgCtGet),
		Family:      netfilter.ProtoUnspec, // both IPv4 and IPv6
		Flags:       netlink.Request | netlink.Dump,
	}, nil)
	if err != nil {
		return err
	}
	req.Header.Length = uint32(unix.NLMSG_HDRLEN + len(req.Data))
	req.Header.Sequence = 1
	b, err := req.MarshalBinary()
	if err != nil {
		return err
	}
	return unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// decodeDump decodes the messages of one read. It reports done at
// NLMSG_DONE, and the kernel's error at NLMSG_ERROR.
func (s *Source) decodeDump(b []byte, add func(conntrackmap.Flow)) (done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, unix.EBADMSG
		}
		var m netlink.Message
		if err := m.UnmarshalBinary(b[:l]); err != nil {
			return false, err
		}
		if done, err := s.decodeMessage(m, add); done || err != nil {
			return done, err
		}
		b = b[min(nlmsgAlign(l), len(b)):]
	}
	if len(b) > 0 {
		return false, unix.EBADMSG // a truncated header
	}
	return false, nil
}

func (s *Source) decodeMessage(m netlink.Message, add func(conntrackmap.Flow)) (done bool, err error) {
	if m.Header.Flags&netlink.DumpInterrupted != 0 {
		return true, errDumpInterrupted
	}
	switch m.Header.Type {
	case netlink.Done:
		return true, nil
	case netlink.Error:
		if len(m.Data) >= 4 {
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				return true, unix.Errno(-code)
			}
		}
		return true, nil
	}
	var ev conntrack.Event
	if err := ev.Unmarshal(m); err != nil {
		return false, err
	}
	if fl, ok := s.cfg.Filter.Flow(ev.Flow); ok {
		add(fl)
	}
	return false, nil
}

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
