//go:build linux

package stun

import "golang.org/x/sys/unix"

// randomBytes fills b from the kernel's CSPRNG with getrandom(2). On the
// router this keeps crypto/rand, and the FIPS module behind it (about
// 150 KB of the mipsle binary), out of the agent.
func randomBytes(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
