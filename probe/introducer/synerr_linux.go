//go:build linux

package introducer

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// recvErrors asks the kernel to queue the ICMP errors fd receives
// (IP_RECVERR, IPV6_RECVERR). An ICMP error that reaches a SYN-SENT
// socket while a system call holds it (connect, when the refusing NAT is
// near enough to answer before the call returns, or another CPU answers
// meanwhile) is only a soft error: the socket stays in SYN-SENT and may
// still complete a simultaneous open that a real peer, whose stack saw
// the error a round trip later, would have given up. The queue keeps the
// answer.
func recvErrors(fd int, v6 bool) error {
	if v6 {
		return unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_RECVERR, 1)
	}
	return unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_RECVERR, 1)
}

// queuedICMP returns the errno of an ICMP error queued on fd (see
// recvErrors), or 0 if there is none.
func queuedICMP(fd int) unix.Errno {
	var b [64]byte
	var oob [256]byte
	_, oobn, _, _, err := unix.Recvmsg(fd, b[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
	if err != nil {
		return 0
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		ip := m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR
		ip6 := m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if (ip || ip6) && len(m.Data) >= 4 { // struct sock_extended_err, ee_errno first
			if e := unix.Errno(binary.NativeEndian.Uint32(m.Data)); e != 0 {
				return e
			}
		}
	}
	return 0
}
