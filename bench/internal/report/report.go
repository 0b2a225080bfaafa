// Package report holds what keyward's benchmark programs share to print
// their tables: the median of a set of samples, the machine's load average
// and the goal column's verdict.
package report

import (
	"os"
	"slices"
	"strings"
)

// Median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// LoadAvg returns the first three fields of /proc/loadavg: other work on
// the machine shows up there and in the figures.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// YesNo renders a goal check.
func YesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
