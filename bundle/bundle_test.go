package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward/secret"
)

func sample(t testing.TB) *Bundle {
	t.Helper()
	return &Bundle{
		DeploymentID: "dep-123",
		Created:      time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Databases: []Database{
			{Name: "app", ID: "db-app", Keys: []Key{
				{Version: 1, State: "active", Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Key: secret.Random(KeySize)},
				{Version: 2, State: "primary", Created: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Key: secret.Random(KeySize)},
			}},
			{Name: "empty", ID: "db-empty"},
		},
	}
}

func scrypt(t testing.TB, pass string) (*age.ScryptRecipient, *age.ScryptIdentity) {
	t.Helper()
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10) // fast tests; real exports use age's default
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		t.Fatal(err)
	}
	return r, id
}

func sameBundle(t testing.TB, got, want *Bundle) {
	t.Helper()
	if got.DeploymentID != want.DeploymentID || !got.Created.Equal(want.Created) || len(got.Databases) != len(want.Databases) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i, db := range want.Databases {
		g := got.Databases[i]
		if g.Name != db.Name || g.ID != db.ID || len(g.Keys) != len(db.Keys) {
			t.Fatalf("database %d: got %+v, want %+v", i, g, db)
		}
		for j, k := range db.Keys {
			gk := g.Keys[j]
			if gk.Version != k.Version || gk.State != k.State || !gk.Created.Equal(k.Created) || !gk.Key.Equal(k.Key) {
				t.Fatalf("database %s key %d differs", db.Name, k.Version)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	sr, sid := scrypt(t, "correct horse")
	for _, c := range []struct {
		name  string
		to    []age.Recipient
		with  []age.Identity
		armor bool
	}{
		{"x25519", []age.Recipient{x.Recipient()}, []age.Identity{x}, false},
		{"x25519 armored", []age.Recipient{x.Recipient()}, []age.Identity{x}, true},
		{"passphrase", []age.Recipient{sr}, []age.Identity{sid}, false},
		{"passphrase armored", []age.Recipient{sr}, []age.Identity{sid}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := sample(t)
			var buf bytes.Buffer
			if err := Write(&buf, b, c.to, c.armor); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(buf.String(), "-----BEGIN AGE ENCRYPTED FILE-----") != c.armor {
				t.Fatalf("armor %v, file starts %q", c.armor, buf.String()[:20])
			}
			for _, db := range b.Databases {
				for _, k := range db.Keys {
					if bytes.Contains(buf.Bytes(), k.Key.UnsafeBytes()) {
						t.Fatal("a raw key is visible in the export file")
					}
				}
			}
			got, err := Read(&buf, c.with)
			if err != nil {
				t.Fatal(err)
			}
			sameBundle(t, got, b)
		})
	}
}

func TestBadInput(t *testing.T) {
	sr, _ := scrypt(t, "correct horse")
	_, wrong := scrypt(t, "wrong horse")
	var good bytes.Buffer
	if err := Write(&good, sample(t), []age.Recipient{sr}, false); err != nil {
		t.Fatal(err)
	}
	_, right := scrypt(t, "correct horse")
	other, _ := age.GenerateX25519Identity()
	flipped := bytes.Clone(good.Bytes())
	flipped[len(flipped)-20] ^= 1
	for _, c := range []struct {
		name string
		file []byte
		with age.Identity
		want error
	}{
		{"wrong passphrase", good.Bytes(), wrong, ErrWrongSecret},
		{"wrong identity", good.Bytes(), other, ErrWrongSecret},
		{"truncated", good.Bytes()[:good.Len()-30], right, ErrCorrupt},
		{"header only", good.Bytes()[:100], right, ErrCorrupt},
		{"flipped byte", flipped, right, ErrCorrupt},
		{"empty", nil, right, ErrCorrupt},
		{"not age", []byte("hello, world\n"), right, ErrCorrupt},
	} {
		if _, err := Read(bytes.NewReader(c.file), []age.Identity{c.with}); !errors.Is(err, c.want) {
			t.Errorf("%s: Read = %v, want %v", c.name, err, c.want)
		}
	}
}

// encryptRaw puts any text in an age file, to test the payload checks.
func encryptRaw(t *testing.T, text string, to age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, to)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(text))
	w.Close()
	return buf.Bytes()
}

func TestPayloadChecks(t *testing.T) {
	x, _ := age.GenerateX25519Identity()
	var good bytes.Buffer
	if err := Write(&good, sample(t), []age.Recipient{x.Recipient()}, false); err != nil {
		t.Fatal(err)
	}
	d, err := age.Decrypt(&good, x)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.NewDecoder(d).Decode(&p); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(p map[string]any)) string {
		b, _ := json.Marshal(p)
		var q map[string]any
		json.Unmarshal(b, &q)
		f(q)
		out, _ := json.Marshal(q)
		return string(out)
	}
	key0 := func(q map[string]any) map[string]any {
		return q["databases"].([]any)[0].(map[string]any)["keys"].([]any)[0].(map[string]any)
	}
	for _, c := range []struct {
		name string
		text string
		want error
	}{
		{"newer version", mutate(func(q map[string]any) { q["version"] = 2 }), ErrFormat},
		{"other format", mutate(func(q map[string]any) { q["format"] = "something-else" }), ErrFormat},
		{"unknown field", mutate(func(q map[string]any) { q["extra"] = 1 }), ErrFormat},
		{"no deployment", mutate(func(q map[string]any) { delete(q, "deployment_id") }), ErrFormat},
		{"check value", mutate(func(q map[string]any) { key0(q)["check_value"] = "0000000000000000" }), ErrCheckValue},
		{"swapped keys", mutate(func(q map[string]any) {
			keys := q["databases"].([]any)[0].(map[string]any)["keys"].([]any)
			a, b := keys[0].(map[string]any), keys[1].(map[string]any)
			a["key"], b["key"] = b["key"], a["key"]
		}), ErrCheckValue},
		{"short key", mutate(func(q map[string]any) { key0(q)["key"] = "AAAA" }), ErrFormat},
		{"repeated version", mutate(func(q map[string]any) { key0(q)["version"] = 2 }), ErrFormat},
		{"not JSON", "{", ErrFormat},
	} {
		if _, err := Read(bytes.NewReader(encryptRaw(t, c.text, x.Recipient())), []age.Identity{x}); !errors.Is(err, c.want) {
			t.Errorf("%s: Read = %v, want %v", c.name, err, c.want)
		}
	}
}

// TestAgeCLIOpensExport: an operator can read an export with the age CLI.
func TestAgeCLIOpensExport(t *testing.T) {
	if _, err := exec.LookPath("age"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the age CLI is not installed (apt-get install age)")
		}
		t.Skip("the age CLI is not installed (apt-get install age)")
	}
	x, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	idFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(idFile, []byte(x.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, armored := range []bool{false, true} {
		b := sample(t)
		var buf bytes.Buffer
		if err := Write(&buf, b, []age.Recipient{x.Recipient()}, armored); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "export.age")
		os.WriteFile(file, buf.Bytes(), 0o600)
		out, err := exec.Command("age", "-d", "-i", idFile, file).Output()
		if err != nil {
			t.Fatalf("age -d (armor %v): %v", armored, err)
		}
		got, err := parse(out)
		if err != nil {
			t.Fatalf("what age decrypted does not parse: %v", err)
		}
		sameBundle(t, got, b)
	}
}

// TestCheckValueVector pins the check value construction: exports written
// by one version must verify in every later one.
func TestCheckValueVector(t *testing.T) {
	raw := make([]byte, KeySize)
	for i := range raw {
		raw[i] = byte(i)
	}
	if got := CheckValue(secret.New(raw)); got != checkValue0to31 {
		t.Errorf("CheckValue(00 01 … 1f) = %s, want %s", got, checkValue0to31)
	}
}

// checkValue0to31 was computed with Python's hmac module, independently of
// this package: hmac.new(bytes(range(32)), b"keyward key check value v1",
// hashlib.sha256).hexdigest()[:16].
const checkValue0to31 = "e73402200191fa12"
