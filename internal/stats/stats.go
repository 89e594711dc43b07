// Package stats has the little order statistics the agent's figures and
// the benchmarks share.
package stats

import (
	"cmp"
	"slices"
	"sort"
)

// Percentile returns the p-th percentile (0..100) of xs by the nearest-rank
// below: for p 50 the median, for 99 the value 99% of xs do not exceed. It
// does not change xs; the zero value for none.
func Percentile[T cmp.Ordered](xs []T, p int) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(xs)
	// sort.Slice, not slices.Sort: one generic sort per element type costs
	// the mipsle agent about 6 KB of code, sort.Slice's is shared.
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}
