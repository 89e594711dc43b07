// Package docsync keeps the generated parts of the docs in step with the
// code that generates them, for tests: a section of a Markdown page
// between a begin and an end marker line is compared with what the code
// makes now, or rewritten with it when the test runs with -update.
package docsync

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Section checks that the page at path holds want between the marker
// lines begin and end (each with its newline). With update it rewrites the
// section instead. how says how to regenerate it, for the failure message.
func Section(t testing.TB, path, begin, end, want string, update bool, how string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", path, begin, end)
	}
	if update {
		if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, doc[i+len(begin):j]); diff != "" {
		t.Errorf("%s is out of step with the code; %s (-want +got):\n%s", path, how, diff)
	}
}
