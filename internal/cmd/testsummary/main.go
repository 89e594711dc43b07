// Command testsummary reads `go test -json` on stdin, prints each failing
// test's output and every skip with its reason, and closes with one line:
//
//	tests: N passed, N failed, N skipped
//
// It exits 1 when a test or a package failed, or when nothing ran.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of test2json output.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type tally struct {
	passed, failed, skipped int
	pkgFailed               []string
	output                  map[string]*strings.Builder
	skips                   []string
}

func main() {
	t := &tally{output: map[string]*strings.Builder{}}
	if err := t.read(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	os.Exit(t.print(os.Stdout))
}

func (t *tally) read(r io.Reader, echo io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			fmt.Fprintln(echo, sc.Text()) // build errors and the like
			continue
		}
		t.add(ev, echo)
	}
	return sc.Err()
}

func (t *tally) add(ev event, echo io.Writer) {
	key := ev.Package + " " + ev.Test
	switch ev.Action {
	case "output":
		b := t.output[key]
		if b == nil {
			b = &strings.Builder{}
			t.output[key] = b
		}
		b.WriteString(ev.Output)
	case "pass":
		if ev.Test != "" {
			t.passed++
		}
		delete(t.output, key)
	case "skip":
		if ev.Test != "" {
			t.skipped++
			t.skips = append(t.skips, fmt.Sprintf("%s %s: %s", ev.Package, ev.Test, skipReason(t.output[key])))
		}
		delete(t.output, key)
	case "fail":
		if ev.Test == "" {
			t.pkgFailed = append(t.pkgFailed, ev.Package)
		} else {
			t.failed++
		}
		if b := t.output[key]; b != nil {
			fmt.Fprintf(echo, "=== FAIL %s\n%s\n", key, b.String())
		}
	}
}

func skipReason(b *strings.Builder) string {
	if b == nil {
		return "no reason given"
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return "no reason given"
}

func (t *tally) print(w io.Writer) int {
	sort.Strings(t.skips)
	for _, s := range t.skips {
		fmt.Fprintln(w, "skipped:", s)
	}
	if len(t.pkgFailed) > 0 {
		fmt.Fprintln(w, "failed packages:", strings.Join(t.pkgFailed, " "))
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped)
	if t.failed > 0 || len(t.pkgFailed) > 0 || t.passed == 0 {
		return 1
	}
	return 0
}
