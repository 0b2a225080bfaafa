package api

import (
	"errors"
	"testing"
)

var entryPathTests = []struct {
	path, escaped string
}{
	{"a", "a"},
	{"prod/db", "prod/db"},
	{"a b/c?d#e%f", "a%20b/c%3Fd%23e%25f"},
	{"x/attachments", "x/%61ttachments"},
	{"attachments", "%61ttachments"},
	{"a/../b/.", "a/%2E%2E/b/%2E"},
	{"é/ü", "%C3%A9/%C3%BC"},
}

func TestEscapeEntryPath(t *testing.T) {
	for _, tt := range entryPathTests {
		got, err := EscapeEntryPath(tt.path)
		if err != nil || got != tt.escaped {
			t.Errorf("EscapeEntryPath(%q) = %q, %v, want %q", tt.path, got, err, tt.escaped)
			continue
		}
		for _, suffix := range []struct {
			s    string
			want EntryURL
		}{
			{"", EntryURL{Path: tt.path}},
			{"/attachments", EntryURL{Path: tt.path, Attachments: true}},
			{"/attachments/n%2Fx", EntryURL{Path: tt.path, Attachments: true, Name: "n/x"}},
		} {
			u, err := ParseEntryURL(got + suffix.s)
			if err != nil || u != suffix.want {
				t.Errorf("ParseEntryURL(%q) = %+v, %v, want %+v", got+suffix.s, u, err, suffix.want)
			}
		}
	}
	for _, p := range []string{"", "/a", "a/", "a//b"} {
		if got, err := EscapeEntryPath(p); !errors.Is(err, ErrPathNotRoutable) {
			t.Errorf("EscapeEntryPath(%q) = %q, %v, want ErrPathNotRoutable", p, got, err)
		}
	}
	for _, s := range []string{"", "a//b", "a/attachments/x/y", "a/%zz", "a/attachments/"} {
		if u, err := ParseEntryURL(s); err == nil {
			t.Errorf("ParseEntryURL(%q) = %+v, want an error", s, u)
		}
	}
}
