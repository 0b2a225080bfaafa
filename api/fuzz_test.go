package api

import (
	"bufio"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedLines returns the lines of testdata/name, one seed each; a line
// "#…" is a comment.
func seedLines(tb testing.TB, name string) []string {
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

// FuzzParseEntryURL checks what ParseEntryURL accepts: a non-empty entry
// path that EscapeEntryPath can put back in a URL, which parses back to
// the same EntryURL; an attachment name only with Attachments; and, for
// any entry path, that ParseEntryURL(EscapeEntryPath(path)) is path.
func FuzzParseEntryURL(f *testing.F) {
	for _, s := range seedLines(f, "entry_urls.txt") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if esc, err := EscapeEntryPath(s); err == nil {
			if u, err := ParseEntryURL(esc); err != nil || u != (EntryURL{Path: s}) {
				t.Fatalf("ParseEntryURL(EscapeEntryPath(%q) = %q) = %+v, %v", s, esc, u, err)
			}
		} else if !errors.Is(err, ErrPathNotRoutable) {
			t.Fatalf("EscapeEntryPath(%q) = %v, want ErrPathNotRoutable", s, err)
		}
		u, err := ParseEntryURL(s)
		if err != nil {
			if u != (EntryURL{}) {
				t.Fatalf("ParseEntryURL(%q) = %+v with error %v", s, u, err)
			}
			return
		}
		if u.Name != "" && !u.Attachments {
			t.Fatalf("ParseEntryURL(%q) = %+v: a name without attachments", s, u)
		}
		esc, err := EscapeEntryPath(u.Path)
		if err != nil {
			t.Fatalf("ParseEntryURL(%q) = path %q, which EscapeEntryPath refuses: %v", s, u.Path, err)
		}
		if u.Attachments {
			esc += "/" + AttachmentsSegment
			if u.Name != "" {
				esc += "/" + url.PathEscape(u.Name)
			}
		}
		if again, err := ParseEntryURL(esc); err != nil || again != u {
			t.Fatalf("ParseEntryURL(%q) = %+v; its canonical URL %q parses as %+v, %v", s, u, esc, again, err)
		}
	})
}
