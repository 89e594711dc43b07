package textfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func fakeRAM(t *testing.T, ram bool, err error) {
	t.Helper()
	old := onRAM
	onRAM = func(string) (bool, error) { return ram, err }
	t.Cleanup(func() { onRAM = old })
}

func TestWriteReplaces(t *testing.T) {
	fakeRAM(t, true, nil)
	dir := t.TempDir()
	for _, page := range []string{"natp2p_x 1\n", "natp2p_x 2\n"} {
		if err := Write(dir, "natp2p.prom", []byte(page), false); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "natp2p.prom"))
		if err != nil || string(got) != page {
			t.Fatalf("file holds %q (%v), want %q", got, err, page)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want 1 (no temporary file left)", len(entries))
	}
	fi, err := os.Stat(filepath.Join(dir, "natp2p.prom"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", fi.Mode(), err)
	}
}

func TestWriteRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, dir string
		ram             bool
		err             error
		force           bool
		want            error
	}{
		{"flash", "natp2p.prom", dir, false, nil, false, ErrNotRAM},
		{"unknown file system", "natp2p.prom", dir, false, errUnsupported, false, ErrNotRAM},
		{"flash, forced", "natp2p.prom", dir, false, nil, true, nil},
		{"no .prom", "natp2p.txt", dir, true, nil, false, errAny},
		{"a path", "../natp2p.prom", dir, true, nil, false, errAny},
		{"only the suffix", ".prom", dir, true, nil, false, errAny},
		{"missing directory, made", "natp2p.prom", filepath.Join(dir, "made"), true, nil, false, nil},
		{"missing directory on flash", "natp2p.prom", filepath.Join(dir, "flash"), false, nil, false, ErrNotRAM},
		{"missing parent", "natp2p.prom", filepath.Join(dir, "no", "parent"), true, nil, true, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeRAM(t, tt.ram, tt.err)
			err := Write(tt.dir, tt.file, []byte("x 1\n"), tt.force)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Write = %v, want nil", err)
			case tt.want == errAny && err == nil, tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Errorf("Write = %v, want %v", err, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestReplaceRemovesLeftovers: a temporary file a crash left, or a link
// planted in its place, is replaced, and the link's target untouched.
func TestReplaceRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, ".natp2p.prom.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := replace(dir, "natp2p.prom", []byte("page\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "natp2p.prom")); err != nil || string(b) != "page\n" {
		t.Errorf("natp2p.prom = %q, %v", b, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".natp2p.prom.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "prometheus")
	var checked []string
	old := onRAM
	t.Cleanup(func() { onRAM = old })
	for _, ram := range []bool{true, false} {
		onRAM = func(d string) (bool, error) { checked = append(checked, d); return ram, nil }
		for _, d := range []string{dir, missing} {
			if err := Check(d, false); (err == nil) != ram || !ram && !errors.Is(err, ErrNotRAM) {
				t.Errorf("Check(%s) on RAM %v = %v", d, ram, err)
			}
			if err := Check(d, true); err != nil {
				t.Errorf("Check(%s, force) = %v", d, err)
			}
		}
	}
	if want := []string{dir, dir, dir, dir}; !slices.Equal(checked, want) {
		t.Errorf("checked %v, want %v: a missing directory's parent", checked, want)
	}
}
