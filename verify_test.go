package keyward_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store/sqlite"
)

// Verify lists every damaged ciphertext (entries, attachment chunks, a
// missing attachment file, a wrapped data key) and goes on after each.
func TestVerifyFindsEveryTamperedCiphertext(t *testing.T) {
	kw, cfg, _ := setup(t)
	ctx := context.Background()
	a, b := mustDB(t, kw, "a"), mustDB(t, kw, "b")
	body := bytes.Repeat([]byte("x"), 2*crypt.ChunkSize+10) // 3 chunks
	for _, p := range []string{"e1", "e2", "e3", "e4"} {
		for _, db := range []*keyward.Database{a, b} {
			if _, err := db.Put(ctx, keyward.Entry{Path: p, Fields: map[string]string{"k": "v"}}); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"n1", "n2"} {
				if _, err := db.PutAttachment(ctx, p, n, bytes.NewReader(body)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	raw := rawDB(t, cfg)
	var dbA string
	raw.QueryRow(`SELECT id FROM databases WHERE name = 'a'`).Scan(&dbA)
	flipLastByte(t, raw, `SELECT rowid, ciphertext FROM entries WHERE path = 'e2' AND database_id = '`+dbA+`'`,
		`UPDATE entries SET ciphertext = ? WHERE rowid = ?`)
	flipLastByte(t, raw, `SELECT rowid, ciphertext FROM entries WHERE path = 'e4' AND database_id = '`+dbA+`'`,
		`UPDATE entries SET ciphertext = ? WHERE rowid = ?`)
	att := func(path, name string) string {
		var id string
		raw.QueryRow(`SELECT a.id FROM attachments a JOIN entries e ON e.id = a.entry_id
			WHERE e.path = ? AND a.name = ? AND e.database_id = ?`, path, name, dbA).Scan(&id)
		return filepath.Join(cfg.DataDir, sqlite.AttachmentsDir, id)
	}
	f, err := os.ReadFile(att("e1", "n2"))
	if err != nil {
		t.Fatal(err)
	}
	f[crypt.ChunkSize+crypt.ChunkOverhead+5] ^= 1 // chunk 1
	if err := os.WriteFile(att("e1", "n2"), f, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(att("e3", "n1")); err != nil {
		t.Fatal(err)
	}

	// A second deployment's failures, seen through a fresh process so the
	// tampered wrapped key is not already cached.
	kw.Close()
	flipLastByte(t, raw, `SELECT rowid, wrapped FROM data_keys WHERE database_id = (SELECT id FROM databases WHERE name = 'b')`,
		`UPDATE data_keys SET wrapped = ? WHERE rowid = ?`)
	kw2, err := keyward.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer kw2.Close()
	var got []keyward.VerifyFailure
	progress := 0
	sum, err := kw2.Verify(ctx, keyward.VerifyOptions{Progress: func(string, keyward.VerifySummary) { progress++ }},
		func(f keyward.VerifyFailure) { got = append(got, f) })
	if err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	var what []string
	for _, f := range got {
		what = append(what, f.Database+" "+f.Kind+" "+f.Path+" "+f.Attachment)
		if f.Reason == "" || f.KeyVersion != 1 {
			t.Errorf("failure %+v: want a reason and key version 1", f)
		}
		if f.Kind != "data_key" && f.ID == "" {
			t.Errorf("failure %+v: want the entry id", f)
		}
	}
	sort.Strings(what)
	want := []string{
		"a attachment e1 n2", "a attachment e3 n1", "a entry e2 ", "a entry e4 ",
		// b's only key does not unwrap, so every ciphertext of b fails too.
		"b attachment e1 n1", "b attachment e1 n2", "b attachment e2 n1", "b attachment e2 n2",
		"b attachment e3 n1", "b attachment e3 n2", "b attachment e4 n1", "b attachment e4 n2",
		"b data_key  ", "b entry e1 ", "b entry e2 ", "b entry e3 ", "b entry e4 ",
	}
	if !slices.Equal(what, want) {
		t.Errorf("Verify failures =\n%q\nwant\n%q", what, want)
	}
	if sum.Databases != 2 || sum.Entries != 8 || sum.Attachments != 16 || sum.DataKeys != 2 || sum.Failures != int64(len(want)) {
		t.Errorf("summary = %+v", sum)
	}
	if progress < 2 {
		t.Errorf("progress called %d times, want at least once per database", progress)
	}

	// Only database a; an unknown name fails before anything is read.
	got = nil
	if sum, err := kw2.Verify(ctx, keyward.VerifyOptions{Databases: []string{"a"}}, func(f keyward.VerifyFailure) { got = append(got, f) }); err != nil || sum.Failures != 4 || len(got) != 4 {
		t.Errorf("Verify(a) = %+v, %v; want 4 failures", sum, err)
	}
	if _, err := kw2.Verify(ctx, keyward.VerifyOptions{Databases: []string{"nope"}}, nil); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("Verify(nope) = %v, want ErrNotFound", err)
	}
	recs, err := kw2.AuditRecords(ctx, keyward.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]int{}
	for _, r := range recs {
		if r.Op == "keys.verify" {
			results[r.Result]++
		}
	}
	if results["integrity"] != 2 || results["not_found"] != 1 {
		t.Errorf("keys.verify audit results = %v, want 2 integrity and 1 not_found", results)
	}
}

func TestVerifyCleanDeployment(t *testing.T) {
	kw, _, _ := setup(t)
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	for _, p := range []string{"a", "b"} {
		db.Put(ctx, keyward.Entry{Path: p, Fields: map[string]string{"f": p}})
	}
	db.PutAttachment(ctx, "a", "n", bytes.NewReader([]byte("small")))
	sum, err := kw.Verify(ctx, keyward.VerifyOptions{}, func(f keyward.VerifyFailure) { t.Errorf("unexpected failure %+v", f) })
	if err != nil || sum.Failures != 0 || sum.Entries != 2 || sum.Attachments != 1 || sum.Chunks != 1 {
		t.Errorf("Verify() = %+v, %v", sum, err)
	}
}
