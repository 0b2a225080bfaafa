package keyward_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/masterkey"
)

func TestInitAdminTokenVerifies(t *testing.T) {
	kw, _, res := setup(t)
	ctx := context.Background()
	if !strings.HasPrefix(res.AdminToken, "kw_") {
		t.Fatalf("InitResult.AdminToken has the wrong form (length %d)", len(res.AdminToken))
	}
	tok, err := kw.VerifyToken(ctx, res.AdminToken)
	if err != nil || tok.Role != keyward.RoleAdmin || len(tok.Databases) != 0 {
		t.Fatalf("VerifyToken(admin) = %+v, %v; want an unscoped admin token", tok, err)
	}
}

func TestTokenLifecycle(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	secret, tok, err := kw.CreateToken(ctx, keyward.TokenSpec{Name: "ci", Role: keyward.RoleReader, Databases: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := kw.VerifyToken(ctx, secret)
	if err != nil || got.ID != tok.ID || got.Role != keyward.RoleReader || got.Name != "ci" {
		t.Fatalf("VerifyToken = %+v, %v; want %+v", got, err, tok)
	}
	if strings.Contains(tok.ID, secret) || strings.Contains(secret, "_"+tok.ID+"_") == false {
		t.Errorf("token ID %q should be the public part of the secret", tok.ID)
	}
	list, err := kw.Tokens(ctx)
	if err != nil || len(list) != 2 { // the init admin token and this one
		t.Fatalf("Tokens() = %v, %v; want 2", list, err)
	}

	// Every altered form of the secret is refused, without saying why.
	bad := []string{
		"", "kw_", secret[:len(secret)-1], secret + "A", strings.ToUpper(secret),
		secret[:len(secret)-2] + flip(secret[len(secret)-2:]),
		"kw_" + strings.Repeat("a", 16) + secret[len("kw_")+16:], // another id, same secret
		"Bearer " + secret,
	}
	// The last character holds 2 bits of the secret and 4 padding bits:
	// every other spelling of it must be refused too.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range alphabet {
		if alt := secret[:len(secret)-1] + string(c); alt != secret {
			bad = append(bad, alt)
		}
	}
	for _, b := range bad {
		if _, err := kw.VerifyToken(ctx, b); !errors.Is(err, keyward.ErrUnauthorized) {
			t.Errorf("VerifyToken(altered #%d) = %v, want ErrUnauthorized", len(b), err)
		}
	}

	if err := kw.DeleteToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := kw.VerifyToken(ctx, secret); !errors.Is(err, keyward.ErrUnauthorized) {
		t.Errorf("VerifyToken after DeleteToken = %v, want ErrUnauthorized", err)
	}
	if err := kw.DeleteToken(ctx, tok.ID); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("second DeleteToken = %v, want ErrNotFound", err)
	}
}

// flip changes the first character of s to another valid base64url one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestTokenExpiry(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	if _, _, err := kw.CreateToken(ctx, keyward.TokenSpec{Role: keyward.RoleWriter, Expires: time.Now().Add(-time.Second)}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("CreateToken with a past expiry = %v, want ErrInvalid", err)
	}
	secret, _, err := kw.CreateToken(ctx, keyward.TokenSpec{Role: keyward.RoleWriter, Expires: time.Now().Add(300 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kw.VerifyToken(ctx, secret); err != nil {
		t.Fatalf("VerifyToken before expiry = %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := kw.VerifyToken(ctx, secret); !errors.Is(err, keyward.ErrUnauthorized) {
		t.Errorf("VerifyToken after expiry = %v, want ErrUnauthorized", err)
	}
}

func TestTokenSpecValidation(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	for _, spec := range []keyward.TokenSpec{
		{Role: "root"},
		{Role: ""},
		{Role: keyward.RoleReader, Databases: []string{"bad name"}},
		{Role: keyward.RoleReader, Name: "a\nb"},
	} {
		if _, _, err := kw.CreateToken(ctx, spec); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("CreateToken(%+v) = %v, want ErrInvalid", spec, err)
		}
	}
	if list, _ := kw.Tokens(ctx); len(list) != 1 {
		t.Errorf("refused specs created tokens: %d tokens, want 1", len(list))
	}
}

func TestTokenAllows(t *testing.T) {
	for _, c := range []struct {
		tok          keyward.Token
		db           string
		read, writes bool
	}{
		{keyward.Token{Role: keyward.RoleAdmin, Databases: []string{"x"}}, "y", true, true},
		{keyward.Token{Role: keyward.RoleWriter}, "y", true, true},
		{keyward.Token{Role: keyward.RoleWriter, Databases: []string{"x"}}, "y", false, false},
		{keyward.Token{Role: keyward.RoleWriter, Databases: []string{"x"}}, "x", true, true},
		{keyward.Token{Role: keyward.RoleReader}, "y", true, false},
		{keyward.Token{Role: keyward.RoleReader, Databases: []string{"x"}}, "y", false, false},
		{keyward.Token{Role: "bogus"}, "y", true, false},
	} {
		if got := c.tok.Allows(c.db, false); got != c.read {
			t.Errorf("%+v.Allows(%q, read) = %v, want %v", c.tok, c.db, got, c.read)
		}
		if got := c.tok.Allows(c.db, true); got != c.writes {
			t.Errorf("%+v.Allows(%q, write) = %v, want %v", c.tok, c.db, got, c.writes)
		}
	}
}

func TestMaintenanceSurvivesReopen(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	if m, err := kw.Maintenance(ctx); err != nil || m.Enabled {
		t.Fatalf("Maintenance() on a new deployment = %+v, %v; want off", m, err)
	}
	if _, err := kw.SetMaintenance(ctx, true, "disk swap"); err != nil {
		t.Fatal(err)
	}
	kw.Close()
	kw2, err := keyward.OpenSealed(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer kw2.Close()
	m, err := kw2.Maintenance(ctx)
	if err != nil || !m.Enabled || m.Reason != "disk swap" || m.Since.IsZero() {
		t.Fatalf("Maintenance() after reopen = %+v, %v; want on, with the reason", m, err)
	}
	if _, err := kw2.SetMaintenance(ctx, false, ""); !errors.Is(err, keyward.ErrSealed) {
		t.Errorf("SetMaintenance while sealed = %v, want ErrSealed", err)
	}
	if _, _, err := kw2.CreateToken(ctx, keyward.TokenSpec{Role: keyward.RoleAdmin}); !errors.Is(err, keyward.ErrSealed) {
		t.Errorf("CreateToken while sealed = %v, want ErrSealed", err)
	}
	if err := kw2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := kw2.SetMaintenance(ctx, false, "ignored when off"); err != nil || m.Enabled || m.Reason != "" {
		t.Errorf("SetMaintenance(off) = %+v, %v; want off without a reason", m, err)
	}
}

func TestUnlockWithPassphraseAndRecoveryKey(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"KW_PASS": "correct horse"}
	cfg := keyward.Config{
		DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys"),
		MasterKeys: []string{"env:KW_PASS"},
		Getenv:     func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		KDF:        &masterkey.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
	}
	ctx := context.Background()
	res, err := keyward.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	delete(env, "KW_PASS")
	for _, c := range []struct {
		name   string
		unlock func(kw *keyward.Keyward) error
		ok     bool
	}{
		{"wrong passphrase", func(kw *keyward.Keyward) error { return kw.UnlockWithPassphrase(ctx, "wrong") }, false},
		{"empty passphrase", func(kw *keyward.Keyward) error { return kw.UnlockWithPassphrase(ctx, "") }, false},
		{"recovery key as passphrase", func(kw *keyward.Keyward) error { return kw.UnlockWithPassphrase(ctx, res.RecoveryKey) }, false},
		{"passphrase as recovery key", func(kw *keyward.Keyward) error { return kw.UnlockWithRecoveryKey(ctx, "correct horse") }, false},
		{"passphrase", func(kw *keyward.Keyward) error { return kw.UnlockWithPassphrase(ctx, "correct horse") }, true},
		{"recovery key", func(kw *keyward.Keyward) error {
			return kw.UnlockWithRecoveryKey(ctx, strings.ToLower(res.RecoveryKey))
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			kw, err := keyward.OpenSealed(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer kw.Close()
			if err := kw.Unlock(ctx); !errors.Is(err, keyward.ErrSealed) {
				t.Fatalf("Unlock with the variable unset = %v, want ErrSealed", err)
			}
			err = c.unlock(kw)
			if c.ok != (err == nil) || kw.Sealed() == c.ok {
				t.Fatalf("unlock = %v, sealed %v; want success %v", err, kw.Sealed(), c.ok)
			}
			if err != nil && strings.Contains(err.Error(), "correct horse") {
				t.Errorf("the error shows the passphrase: %v", err)
			}
		})
	}
}

// A database created by another process is found at once: Database
// remembers what it found, never a miss.
func TestDatabaseCreatedElsewhereIsFound(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	if _, err := kw.Database(ctx, "later"); !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("Database(later) before it exists = %v, want ErrNotFound", err)
	}
	other, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.CreateDatabase(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	db, err := kw.Database(ctx, "later")
	if err != nil || db.Name() != "later" {
		t.Fatalf("Database(later) after another process created it = %v", err)
	}
	if _, err := db.Put(ctx, keyward.Entry{Path: "p", Fields: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	db2, _ := kw.Database(ctx, "later") // from the cache now
	if e, err := db2.Get(ctx, "p"); err != nil || e.Fields["k"] != "v" {
		t.Fatalf("Get through the remembered database = %+v, %v", e, err)
	}
}
