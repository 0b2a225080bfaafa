// Package fuzzseed reads the seed corpora of the fuzz targets from a
// package's testdata directory: one seed per line of a text file, or one
// seed per file. It fails the test when a corpus is missing or empty, so a
// renamed file cannot leave a target without seeds unnoticed.
package fuzzseed

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Lines returns the lines of testdata/name, one seed each; a line that
// starts with "#" is a comment.
func Lines(tb testing.TB, name string) []string {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "#") {
			out = append(out, sc.Text())
		}
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		tb.Fatalf("testdata/%s: %d seeds, %v", name, len(out), err)
	}
	return out
}

// Files returns the contents of the files that testdata/pattern names
// (filepath.Glob), one seed each.
func Files(tb testing.TB, pattern string) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no seed files testdata/%s (%v)", pattern, err)
	}
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}
