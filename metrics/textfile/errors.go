package textfile

import "errors"

// ErrNotRAM is returned when the directory is not on tmpfs or ramfs and
// the write is not forced.
var ErrNotRAM = errors.New("not on tmpfs or ramfs (refusing to write to flash)")

// errUnsupported: the file system type cannot be read on this OS.
var errUnsupported = errors.New("cannot tell the file system type on this OS")
