package keyward

import (
	"bufio"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseToken checks that a bearer token (read from any HTTP request)
// parses only in its one canonical spelling, into an id and 32 secret
// bytes, seeded from testdata/tokens.txt (one token a line, "#" comments).
func FuzzParseToken(f *testing.F) {
	fh, err := os.Open(filepath.Join("testdata", "tokens.txt"))
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "#") {
			f.Add(sc.Text())
		}
	}
	fh.Close()
	f.Fuzz(func(t *testing.T, s string) {
		id, raw, ok := parseToken(s)
		if !ok {
			if id != "" || raw != nil {
				t.Fatalf("parseToken(%q) = %q, %x, false", s, id, raw)
			}
			return
		}
		if len(raw) != tokenSecretLen || len(id) != tokenIDLen {
			t.Fatalf("parseToken(%q) = %q, %d bytes", s, id, len(raw))
		}
		if canon := tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(raw); canon != s {
			t.Fatalf("parseToken(%q) accepted a token whose canonical spelling is %q", s, canon)
		}
	})
}
