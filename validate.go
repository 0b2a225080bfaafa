package keyward

import (
	"crypto/rand"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxPathLen  = 1024
	maxNameLen  = 255
	maxDBName   = 64
	maxFieldLen = 256
	maxTags     = 64
)

// checkDBName allows letters, digits, '-', '_' and '.', 1 to 64 characters.
func checkDBName(name string) error {
	if name == "" || len(name) > maxDBName {
		return invalid("database name must be 1 to %d characters", maxDBName)
	}
	for _, r := range name {
		if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.')) {
			return invalid("database name %q: use only letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// checkText refuses empty, over-long, non-UTF-8 or control-character text.
func checkText(what, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return invalid("%s must be 1 to %d bytes", what, maxLen)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", what)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return invalid("%s %q contains a control character", what, s)
	}
	return nil
}

func checkEntry(e Entry) error {
	if err := checkText("path", e.Path, maxPathLen); err != nil {
		return err
	}
	if e.Type != "" {
		if err := checkText("type", e.Type, maxNameLen); err != nil {
			return err
		}
	}
	if len(e.Tags) > maxTags {
		return invalid("at most %d tags", maxTags)
	}
	for _, t := range e.Tags {
		if err := checkText("tag", t, maxNameLen); err != nil {
			return err
		}
	}
	for name := range e.Fields {
		// Field names are encrypted with the values, but we still keep
		// them sane so they print and parse back.
		if err := checkText("field name", name, maxFieldLen); err != nil {
			return err
		}
	}
	return nil
}

func checkAttachmentName(name string) error {
	if err := checkText("attachment name", name, maxNameLen); err != nil {
		return err
	}
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return invalid("attachment name %q must not contain a path separator", name)
	}
	return nil
}

func mustRand(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("keyward: crypto/rand failed: " + err.Error())
	}
}
