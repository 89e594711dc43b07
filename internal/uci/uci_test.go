package uci

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	in := `# natp2p
package natp2p

config natp2p 'main'
	option enabled '1'
	option mode "observe"   # trailing comment
	option wan ''
	list lan 'br-lan'
	list lan br-guest
	option note 'it''s # not a comment'
	option esc "a\"b"

config other
`
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []*Section{
		{Type: "natp2p", Name: "main", Line: 4, Options: map[string][]string{
			"enabled": {"1"}, "mode": {"observe"}, "wan": {""}, "lan": {"br-lan", "br-guest"},
			"note": {"its # not a comment"}, "esc": {`a"b`}},
			Lines: map[string]int{"enabled": 5, "mode": 6, "wan": 7, "lan": 9, "note": 10, "esc": 11}},
		{Type: "other", Line: 13, Options: map[string][]string{}, Lines: map[string]int{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if v, ok := got[0].Get("wan"); !ok || v != "" {
		t.Errorf("Get(wan) = %q, %v; want set and empty", v, ok)
	}
	if _, ok := got[0].Get("missing"); ok {
		t.Error("Get(missing) reports set")
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"option mode 'x'\n":                     "line 1: option before any `config` line",
		"config natp2p 'main'\n\toption mode\n": "line 2: want `option KEY 'VALUE'`",
		"config a b c d\n":                      "line 1: want `config TYPE ['NAME']`",
		"config a\n\toption x 'unterminated\n":  "line 2: unterminated ' quote",
		"frobnicate\n":                          `line 1: unknown keyword "frobnicate"`,
		"config a\n\n\toption x '" + strings.Repeat("x", 10<<20) + "'\n": "line 3: longer than 65536 bytes",
	} {
		_, err := Parse(strings.NewReader(in))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error starting %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("config natp2p 'main'\n\toption mode 'observe'\n\tlist lan \"br-lan\"\n")
	f.Add("config a\n option b 'c\\'d'  # x\n")
	f.Fuzz(func(t *testing.T, in string) {
		secs, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range secs {
			if s.Type == "" || s.Line < 1 {
				t.Fatalf("section %+v from %q", s, in)
			}
			for k := range s.Options {
				if s.Lines[k] < s.Line {
					t.Fatalf("option %q at line %d before its section at %d", k, s.Lines[k], s.Line)
				}
			}
		}
	})
}
