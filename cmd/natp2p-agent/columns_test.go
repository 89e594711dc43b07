package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"
)

// tabwritten is what writeMappings wrote before writeColumns: rows through
// text/tabwriter.
func tabwritten(rows [][]string) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	return b.String()
}

// randomCell is 0-24 runes of letters, digits, punctuation, spaces and
// multi-byte runes.
func randomCell(r *rand.Rand) string {
	const alphabet = "abcXYZ019.:[]+ -é→日"
	runes := []rune(alphabet)
	var b strings.Builder
	for n := r.IntN(25); n > 0; n-- {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	return b.String()
}

func TestWriteColumnsMatchesTabwriter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		cols, n := 1+r.IntN(7), r.IntN(9)
		rows := make([][]string, n)
		for j := range rows {
			rows[j] = make([]string, cols)
			for k := range rows[j] {
				rows[j][k] = randomCell(r)
			}
		}
		var got bytes.Buffer
		if err := writeColumns(&got, rows); err != nil {
			t.Fatal(err)
		}
		if want := tabwritten(rows); got.String() != want {
			t.Fatalf("table %d %q:\ngot\n%q\nwant\n%q", i, rows, got.String(), want)
		}
	}
}

func TestWriteColumnsWriteError(t *testing.T) {
	if err := writeColumns(failingWriter{}, [][]string{{"a", "b"}}); err == nil {
		t.Fatal("no error from a failing writer")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
