package textfile

import (
	"os"
	"testing"
)

// TestRAMFS reads real file systems: /dev/shm is tmpfs on Linux
// distributions, and the test binary's directory rarely is.
func TestRAMFS(t *testing.T) {
	if ok, err := ramFS("/dev/shm"); err != nil || !ok {
		t.Skipf("/dev/shm is not tmpfs here (%v, %v)", ok, err)
	}
	if _, err := ramFS("/nonexistent"); err == nil {
		t.Error("ramFS(/nonexistent) succeeded")
	}
	dir := t.TempDir()
	ok, err := ramFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s on tmpfs or ramfs: %v", dir, ok)
	err = Write(dir, "natp2p.prom", []byte("x 1\n"), false)
	if ok != (err == nil) {
		t.Errorf("Write to %s (on RAM: %v) = %v", dir, ok, err)
	}
	shm := "/dev/shm/natp2p-textfile-test.prom"
	if err := Write("/dev/shm", "natp2p-textfile-test.prom", []byte("x 1\n"), false); err != nil {
		t.Errorf("Write to /dev/shm: %v", err)
	}
	t.Cleanup(func() { removeFile(shm) })
}

func removeFile(path string) { _ = os.Remove(path) }
