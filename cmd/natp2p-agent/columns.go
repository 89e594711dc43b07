package main

import (
	"io"
	"unicode/utf8"
)

// writeColumns writes rows as text/tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
// writes them with each cell but a row's last ended by a tab: every cell
// but the last is padded with spaces to its column's widest cell (in
// runes) plus two. It spares the agent tabwriter's code. Every row has the
// same number of cells, and no cell holds a tab, newline, '\v', '\f' or
// 0xff byte (which tabwriter would treat as control characters).
func writeColumns(w io.Writer, rows [][]string) error {
	var widths []int
	for _, row := range rows {
		for i := 0; i < len(row)-1; i++ {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(row[i])+2)
		}
	}
	var line []byte
	for _, row := range rows {
		line = line[:0]
		for i, cell := range row {
			line = append(line, cell...)
			for n := utf8.RuneCountInString(cell); i < len(row)-1 && n < widths[i]; n++ {
				line = append(line, ' ')
			}
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	return nil
}
