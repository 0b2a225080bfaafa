package api

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// AttachmentsSegment is the URL segment that separates an entry's path from
// its attachments: /v1/db/{db}/entries/{path...}/attachments[/{name}].
const AttachmentsSegment = "attachments"

// ErrPathNotRoutable is returned by EscapeEntryPath for a path that cannot
// travel in a URL: an empty path, or one with an empty segment (a leading,
// trailing or doubled '/').
var ErrPathNotRoutable = errors.New("api: entry path with an empty segment (leading, trailing or doubled '/') cannot be used over HTTP")

// EscapeEntryPath escapes an entry path for the URL, one segment at a
// time, keeping the '/' between segments. Besides url.PathEscape, it
// escapes a segment "." or ".." (which routers would clean away) and a
// segment "attachments" (which would be read as the attachments route), so
// that each entry path has exactly one URL and ParseEntryURL gets it back.
func EscapeEntryPath(path string) (string, error) {
	if path == "" {
		return "", ErrPathNotRoutable
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		switch s {
		case "":
			return "", ErrPathNotRoutable
		case ".":
			segs[i] = "%2E"
		case "..":
			segs[i] = "%2E%2E"
		case AttachmentsSegment:
			segs[i] = "%61ttachments"
		default:
			segs[i] = url.PathEscape(s)
		}
	}
	return strings.Join(segs, "/"), nil
}

// EntryURL is an entry route taken apart by ParseEntryURL.
type EntryURL struct {
	Path string // the entry's path, unescaped
	// Attachments is true for .../attachments and .../attachments/{name}.
	Attachments bool
	Name        string // the attachment's name, unescaped; "" for the list
}

// ParseEntryURL takes apart the escaped part of an entry URL after
// "/v1/db/{db}/entries/" (as in http.Request.URL.EscapedPath). The first
// segment spelled literally "attachments" (not escaped) starts the
// attachment part; EscapeEntryPath never produces one inside a path. It
// returns only paths that EscapeEntryPath accepts: an escaped '/' that
// would make an empty segment gives ErrPathNotRoutable.
func ParseEntryURL(escaped string) (EntryURL, error) {
	segs := strings.Split(escaped, "/")
	var u EntryURL
	var path []string
segments:
	for i, s := range segs {
		if s == AttachmentsSegment && i > 0 {
			u.Attachments = true
			switch rest := segs[i+1:]; len(rest) {
			case 0:
			case 1:
				name, err := url.PathUnescape(rest[0])
				if err != nil || name == "" {
					return EntryURL{}, errors.New("api: malformed attachment name in URL")
				}
				u.Name = name
			default:
				return EntryURL{}, errors.New("api: attachment names cannot contain '/'")
			}
			break segments
		}
		p, err := url.PathUnescape(s)
		if err != nil || p == "" {
			return EntryURL{}, errors.New("api: malformed entry path in URL")
		}
		path = append(path, p)
	}
	if len(path) == 0 {
		return EntryURL{}, errors.New("api: missing entry path in URL")
	}
	u.Path = strings.Join(path, "/")
	if slices.Contains(strings.Split(u.Path, "/"), "") {
		return EntryURL{}, ErrPathNotRoutable // a segment such as "a%2F"
	}
	return u, nil
}
