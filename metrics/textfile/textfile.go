package textfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Suffix is the name ending the textfile collectors read.
const Suffix = ".prom"

// onRAM reports whether dir is on a RAM-backed file system; a test seam.
var onRAM = ramFS

// Write replaces dir/name with data atomically: it writes a temporary
// file in dir and renames it over name. name must end in Suffix and have
// no directory. Unless force is set, dir must be on tmpfs or ramfs
// (ErrNotRAM otherwise). A missing dir is made when its parent is (the
// collector's /var/prometheus may not exist before its first file).
func Write(dir, name string, data []byte, force bool) error {
	if filepath.Base(name) != name || !strings.HasSuffix(name, Suffix) || name == Suffix {
		return fmt.Errorf("textfile: %q: the name must be a file name ending in %s", name, Suffix)
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := check(filepath.Dir(dir), force); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("textfile: %w", err)
		}
	}
	if err := check(dir, force); err != nil {
		return err
	}
	return replace(dir, name, data)
}

// Check returns the error Write would for the directory dir, without
// writing: ErrNotRAM unless dir (or, when it is missing, its parent) is on
// tmpfs or ramfs, or force is set. A daemon calls it at start, so that a
// path on flash stops it at once.
func Check(dir string, force bool) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		dir = filepath.Dir(dir)
	}
	return check(dir, force)
}

// check refuses dir unless it is on tmpfs or ramfs, or force is set.
func check(dir string, force bool) error {
	if !force {
		ok, err := onRAM(dir)
		switch {
		case err != nil:
			return fmt.Errorf("textfile: %s: %w", dir, errors.Join(ErrNotRAM, err))
		case !ok:
			return fmt.Errorf("textfile: %s: %w", dir, ErrNotRAM)
		}
	}
	return nil
}

// replace writes data to a temporary file in dir, readable by all (the
// collector may run as another user), and renames it to name. One writer
// per name is assumed: the temporary file's name is fixed (os.CreateTemp
// costs the router's binary 1.4 KB), created exclusively, never followed
// through a link someone left there.
func replace(dir, name string, data []byte) error {
	// The collectors read *.prom only: ".name.tmp" is not read.
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // left by a crash: remove it (a link, not its target)
		os.Remove(tmp)
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("textfile: %w", err)
	}
	return nil
}
