// Package uci parses OpenWrt's UCI configuration files (/etc/config/*):
// `config TYPE ['NAME']` sections holding `option KEY 'VALUE'` and
// `list KEY 'VALUE'` lines. It reads the file format only; it knows
// nothing of the uci command's state or of other packages' files.
package uci

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Section is one `config` block.
type Section struct {
	Type, Name string
	Line       int                 // where the section starts
	Options    map[string][]string // an option has one value, a list many
	Lines      map[string]int      // where each option was (last) set
}

// Get returns an option's (last) value and whether it is set.
func (s *Section) Get(key string) (string, bool) {
	v, ok := s.Options[key]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// maxLine bounds a line: no UCI option needs more.
const maxLine = 64 << 10

// Parse reads a UCI file. Errors name the line.
func Parse(r io.Reader) ([]*Section, error) {
	var out []*Section
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLine)
	n := 1
	for ; sc.Scan(); n++ {
		words, err := split(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if len(words) == 0 {
			continue
		}
		if out, err = parseLine(out, words, n); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return nil, fmt.Errorf("line %d: longer than %d bytes", n, maxLine)
	}
	return out, sc.Err()
}

func parseLine(out []*Section, words []string, n int) ([]*Section, error) {
	switch words[0] {
	case "config", "package":
		if words[0] == "package" {
			return out, nil
		}
		if len(words) < 2 || len(words) > 3 {
			return nil, fmt.Errorf("want `config TYPE ['NAME']`")
		}
		s := &Section{Type: words[1], Line: n, Options: map[string][]string{}, Lines: map[string]int{}}
		if len(words) == 3 {
			s.Name = words[2]
		}
		return append(out, s), nil
	case "option", "list":
		if len(out) == 0 {
			return nil, fmt.Errorf("%s before any `config` line", words[0])
		}
		if len(words) != 3 {
			return nil, fmt.Errorf("want `%s KEY 'VALUE'`", words[0])
		}
		s := out[len(out)-1]
		if words[0] == "option" {
			s.Options[words[1]] = nil
		}
		s.Options[words[1]] = append(s.Options[words[1]], words[2])
		s.Lines[words[1]] = n
		return out, nil
	}
	return nil, fmt.Errorf("unknown keyword %q (want config, option or list)", words[0])
}

// split cuts a line into words the way UCI does: whitespace separates,
// single and double quotes group, a backslash escapes outside single
// quotes, and # starts a comment outside quotes.
func split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != '\'' && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
