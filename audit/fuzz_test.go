package audit

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/keyward/keyward/internal/fuzzseed"
)

// headSyntax is what ParseHead may accept: decimal SEQ, ':', the hash in
// hex of either case, with space around it.
var headSyntax = regexp.MustCompile(`^\s*[0-9]+:[0-9a-fA-F]{64}\s*$`)

// FuzzParseHead checks that ParseHead accepts only SEQ:HASH (nothing
// before, after or between), with a positive SEQ and a whole hash, and
// that it reads back what FormatHead writes.
func FuzzParseHead(f *testing.F) {
	for _, s := range fuzzseed.Lines(f, "heads.txt") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHead(s)
		if err != nil {
			if h.Seq != 0 || h.Hash != nil {
				t.Fatalf("ParseHead(%q) = %+v with error %v", s, h, err)
			}
			return
		}
		if h.Seq <= 0 || len(h.Hash) != HashSize || !headSyntax.MatchString(s) {
			t.Fatalf("ParseHead(%q) = %d:%x, want an error", s, h.Seq, h.Hash)
		}
		again, err := ParseHead(FormatHead(h))
		if err != nil || again.Seq != h.Seq || !bytes.Equal(again.Hash, h.Hash) {
			t.Fatalf("ParseHead(FormatHead(%d:%x)) = %d:%x, %v", h.Seq, h.Hash, again.Seq, again.Hash, err)
		}
	})
}
