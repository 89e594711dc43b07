package textfile

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ramFS reports whether dir is on tmpfs or ramfs, by statfs(2)'s f_type.
func ramFS(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("statfs: %w", err)
	}
	// f_type is signed on some architectures: compare its low 32 bits.
	switch uint32(st.Type) {
	case unix.TMPFS_MAGIC, unix.RAMFS_MAGIC:
		return true, nil
	}
	return false, nil
}
