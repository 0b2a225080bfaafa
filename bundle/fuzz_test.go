package bundle

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward/internal/fuzzseed"
	"github.com/keyward/keyward/secret"
)

var update = flag.Bool("update", false, "rewrite the export seeds in testdata/ (see TestExportSeeds)")

// The fuzz seeds: exports written by Write to the test identity in
// testdata/identity.txt or with seedPassphrase, and payloads (the JSON an
// export holds), valid and invalid. `go test ./bundle -run TestExportSeeds
// -update` rewrites the exports; age encryption is randomised, so the files
// change but read back the same.
const seedPassphrase = "fuzz seed passphrase"

var exportSeeds = []struct {
	file       string
	passphrase bool
	armored    bool
}{
	{"export.age", false, false},
	{"export-armored.age", false, true},
	{"export-passphrase.age", true, false},
}

// seedBundle is the bundle of every export seed: fixed keys, so that the
// payload seeds can be written by hand from it.
func seedBundle() *Bundle {
	key := func(b byte) *secret.Key { return secret.New(bytes.Repeat([]byte{b}, KeySize)) }
	return &Bundle{
		DeploymentID: "dep-fuzz",
		Created:      time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Databases: []Database{
			{Name: "app", ID: "db-app", Keys: []Key{
				{Version: 1, State: "retired", Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Key: key(1)},
				{Version: 2, State: "primary", Created: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Key: key(2)},
			}},
			{Name: "empty", ID: "db-empty"},
		},
	}
}

// seedIdentities are the identities that open the export seeds. The
// passphrase identity refuses work factors over 2^10, so that the fuzzer
// cannot make it crawl.
func seedIdentities(tb testing.TB) (*age.X25519Identity, *age.ScryptIdentity) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "identity.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	x, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := age.NewScryptIdentity(seedPassphrase)
	if err != nil {
		tb.Fatal(err)
	}
	s.SetMaxWorkFactor(10)
	return x, s
}

// TestExportSeeds checks that the committed export seeds read back as
// seedBundle, or rewrites them with -update.
func TestExportSeeds(t *testing.T) {
	x, s := seedIdentities(t)
	for _, e := range exportSeeds {
		path := filepath.Join("testdata", e.file)
		if *update {
			var to age.Recipient = x.Recipient()
			if e.passphrase {
				r, _ := scrypt(t, seedPassphrase)
				to = r
			}
			var buf bytes.Buffer
			if err := Write(&buf, seedBundle(), []age.Recipient{to}, e.armored); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Read(f, []age.Identity{x, s})
		f.Close()
		if err != nil {
			t.Fatalf("Read(%s) = %v", e.file, err)
		}
		sameBundle(t, got, seedBundle())
	}
}

// FuzzRead feeds Read whole export files. It checks that Read returns only
// its four documented errors, that no error shows the passphrase or the
// identity, and that what Read accepts is a valid bundle that survives
// Write and Read again.
func FuzzRead(f *testing.F) {
	x, s := seedIdentities(f)
	for _, b := range fuzzseed.Files(f, "export*.age") {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	for _, b := range fuzzseed.Files(f, "payload-*.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Read(bytes.NewReader(data), []age.Identity{x, s})
		if err != nil {
			checkReadError(t, err, ErrWrongSecret, ErrCorrupt, ErrFormat, ErrCheckValue)
			for _, secret := range []string{seedPassphrase, x.String()} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("Read error %q shows a secret", err)
				}
			}
			return
		}
		defer b.Wipe()
		checkRoundTrip(t, b, x)
	})
}

// FuzzParse feeds the payload parser decrypted JSON, which is where a
// crafted export has room to play. It checks that parse returns only
// ErrFormat or ErrCheckValue and never shows a key from the input, and
// that what it accepts is one JSON value (docs/formats.md), a valid bundle,
// and survives Write and Read.
func FuzzParse(f *testing.F) {
	x, _ := seedIdentities(f)
	for _, b := range fuzzseed.Files(f, "payload-*.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		b, err := parse(bytes.Clone(text))
		if err != nil {
			checkReadError(t, err, ErrFormat, ErrCheckValue)
			for _, k := range payloadKeys(text) {
				if strings.Contains(err.Error(), k) {
					t.Fatalf("parse error %q shows the key %q", err, k)
				}
			}
			return
		}
		defer b.Wipe()
		if !json.Valid(text) {
			t.Fatalf("parse accepted %q, which is not one JSON value", text)
		}
		checkRoundTrip(t, b, x)
	})
}

func checkReadError(t *testing.T, err error, want ...error) {
	t.Helper()
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	t.Fatalf("error %v, want one of %v", err, want)
}

// payloadKeys returns the key strings of a payload, and their decoded
// bytes, read leniently; the short ones could appear in an error by chance.
func payloadKeys(text []byte) []string {
	var p payload
	if json.Unmarshal(text, &p) != nil {
		return nil
	}
	var out []string
	for _, db := range p.Databases {
		for _, k := range db.Keys {
			if len(k.Key) >= 8 {
				out = append(out, k.Key)
			}
			if raw, err := base64.StdEncoding.DecodeString(k.Key); err == nil && len(raw) >= 8 {
				out = append(out, string(raw))
			}
		}
	}
	return out
}

// checkRoundTrip checks the invariants Read promises of b, then writes b
// and reads it back.
func checkRoundTrip(t *testing.T, b *Bundle, x *age.X25519Identity) {
	t.Helper()
	if b.DeploymentID == "" {
		t.Fatal("accepted a bundle without deployment id")
	}
	for _, db := range b.Databases {
		if db.Name == "" || db.ID == "" {
			t.Fatalf("accepted database %+v without name or id", db)
		}
		seen := map[uint32]bool{}
		for _, k := range db.Keys {
			if k.Version == 0 || seen[k.Version] || k.Key == nil || k.Key.Len() != KeySize {
				t.Fatalf("database %s: accepted key version %d (repeated %v)", db.Name, k.Version, seen[k.Version])
			}
			seen[k.Version] = true
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, b, []age.Recipient{x.Recipient()}, false); err != nil {
		t.Fatalf("Write(what Read accepted) = %v", err)
	}
	got, err := Read(&buf, []age.Identity{x})
	if err != nil {
		t.Fatalf("Read(Write(what Read accepted)) = %v", err)
	}
	defer got.Wipe()
	sameBundle(t, got, b)
}
