package api

import (
	"errors"
	"net/url"
	"testing"

	"github.com/keyward/keyward/internal/fuzzseed"
)

// FuzzParseEntryURL checks what ParseEntryURL accepts: a non-empty entry
// path that EscapeEntryPath can put back in a URL, which parses back to
// the same EntryURL; an attachment name only with Attachments; and, for
// any entry path, that ParseEntryURL(EscapeEntryPath(path)) is path.
func FuzzParseEntryURL(f *testing.F) {
	for _, s := range fuzzseed.Lines(f, "entry_urls.txt") {
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
