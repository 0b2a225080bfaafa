package sqlite

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// benchStore opens a store with one database in a temporary directory.
func benchStore(b *testing.B) (*Store, store.Database) {
	b.Helper()
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	db := store.Database{ID: "bench-db", Name: "bench"}
	if err := s.CreateDatabase(b.Context(), db, store.DataKey{Version: 1, State: store.KeyPrimary, Wrapped: []byte("w")}); err != nil {
		b.Fatal(err)
	}
	return s, db
}

func benchEntry(db store.Database, i int, ct []byte) store.Entry {
	return store.Entry{
		ID: fmt.Sprintf("id-%08d", i), DatabaseID: db.ID, Path: fmt.Sprintf("apps/app%03d/secret%08d", i%100, i),
		Type: "login", Tags: []string{"bench"}, KeyVersion: 1, Ciphertext: ct,
	}
}

// BenchmarkPutEntry300 creates entries with a 300-byte ciphertext, one
// durable (synchronous=FULL) transaction each.
func BenchmarkPutEntry300(b *testing.B) {
	s, db := benchStore(b)
	ct := make([]byte, 300)
	rand.Read(ct)
	b.SetBytes(int64(len(ct)))
	i := 0
	for b.Loop() {
		if _, err := s.PutEntry(b.Context(), benchEntry(db, i, ct), 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetEntry reads entries with a 300-byte ciphertext at random
// among 10,000, from parallel goroutines.
func BenchmarkGetEntry(b *testing.B) {
	s, db := benchStore(b)
	ct := make([]byte, 300)
	rand.Read(ct)
	const n = 10000
	// Fill in one transaction: one PutEntry each would take seconds.
	err := s.tx(b.Context(), func(tx *sql.Tx) error {
		for i := range n {
			e := benchEntry(db, i, ct)
			_, err := tx.Exec(insertEntry, e.ID, e.DatabaseID, e.Path, e.Type, `["bench"]`, nanos(time.Now()), e.KeyVersion, ct)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i = (i*7919 + 1) % n
			if _, err := s.Entry(b.Context(), db.ID, benchEntry(db, i, nil).Path); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
