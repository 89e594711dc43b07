package agent

import "golang.org/x/sys/unix"

// noSuchLink reports whether the kernel answers that it has no link called
// name (SIOCGIFINDEX: ENODEV). Any other outcome, including a socket that
// cannot be opened when the process is out of file descriptors, is no
// answer: false.
func noSuchLink(name string) bool {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return false
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr) == unix.ENODEV
}
