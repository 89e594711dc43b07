//go:build linux

package agent

import (
	"errors"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// peerIsRoot refuses control clients that are neither root nor the
// daemon's own user (SO_PEERCRED), on top of the socket's 0600 mode. The
// daemon runs as root; only a replaying one (Replay) runs as another user.
func peerIsRoot(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return credErr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return errors.New("permission denied: the control socket is for root")
	}
	return nil
}
