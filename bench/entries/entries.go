// Package entries benchmarks writing and reading small entries through the
// keyward library on its SQLite store: [keyward.Init] and [keyward.Open] on a
// temporary data and key directory, one database, and entries of
// [FieldCount] fields whose values total exactly [ValueBytes] bytes.
//
// The benchmarks (BenchmarkPut300, BenchmarkGet300 in the test file) are
// meant to be run twice from the same source: once as is, and once with
//
//	go test -tags keyward_insecure_passthrough -run '^$' -bench . ./bench/entries
//
// where crypt.NewAEAD returns a pass-through AEAD that only copies the
// plaintext and appends a zero tag. Everything else (JSON, keyring, SQLite,
// fsync) is identical, so the ratio of the two ns/op figures is the price of
// encryption on this path. Each benchmark is a sub-benchmark named after
// [Mode], so its output says which build produced it. The kwbench command
// (bench/cmd/kwbench) runs both builds interleaved and prints the table.
//
// The pass-through build stores secrets in the clear and exists only for
// this comparison.
package entries

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
)

const (
	// FieldCount is the number of fields of every benchmark entry.
	FieldCount = 5
	// ValueBytes is the total length of the field values of every entry.
	ValueBytes = 300
	// DBName is the database the benchmarks use.
	DBName = "bench"
)

// fieldLens are the names and value lengths of the fields; they sum to
// ValueBytes.
var fieldLens = [FieldCount]struct {
	name string
	n    int
}{
	{"username", 24},
	{"password", 40},
	{"url", 72},
	{"token", 64},
	{"notes", 100},
}

// alphabet needs no escaping in JSON, so the payload stays the same size
// for every entry.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Mode names the build: "passthrough" when crypt was built with the
// keyward_insecure_passthrough tag, "encrypted" otherwise.
func Mode() string {
	if crypt.InsecurePassthrough {
		return "passthrough"
	}
	return "encrypted"
}

// Fields returns the fields of entry i: FieldCount fields whose values are
// ValueBytes long in all, different for every i and the same on every call.
func Fields(i int) map[string]string {
	rng := rand.New(rand.NewPCG(uint64(i), 0x6b6579776172640a))
	f := make(map[string]string, FieldCount)
	for _, fl := range fieldLens {
		var b strings.Builder
		b.Grow(fl.n)
		for range fl.n {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		f[fl.name] = b.String()
	}
	return f
}

// Path returns the path of entry i.
func Path(i int) string { return fmt.Sprintf("team/service-%05d/login", i) }

// Env is an initialised, unlocked deployment in a temporary directory with
// one database. It is safe for concurrent use, like keyward.Keyward.
type Env struct {
	Dir string
	KW  *keyward.Keyward
	DB  *keyward.Database
}

// NewEnv creates a deployment under a new temporary directory inside parent
// ("" for the system default): data in Dir/data, the auto provider's key
// file in Dir/keys. Close removes it all.
func NewEnv(ctx context.Context, parent string) (*Env, error) {
	dir, err := os.MkdirTemp(parent, "kwbench-entries-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir}
	cfg := keyward.Config{DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys")}
	if _, err := keyward.Init(ctx, cfg); err != nil {
		e.Close()
		return nil, fmt.Errorf("init: %w", err)
	}
	if e.KW, err = keyward.Open(ctx, cfg); err != nil {
		e.Close()
		return nil, fmt.Errorf("open: %w", err)
	}
	if e.DB, err = e.KW.CreateDatabase(ctx, DBName); err != nil {
		e.Close()
		return nil, fmt.Errorf("create database: %w", err)
	}
	return e, nil
}

// Fill writes entries 0..n-1, so that reads and overwrites find them.
func (e *Env) Fill(ctx context.Context, n int) error {
	for i := range n {
		if _, err := e.DB.Put(ctx, Entry(i)); err != nil {
			return fmt.Errorf("put %s: %w", Path(i), err)
		}
	}
	return nil
}

// Entry returns entry i as Put takes it (unconditional write).
func Entry(i int) keyward.Entry {
	return keyward.Entry{Path: Path(i), Type: "login", Tags: []string{"bench"}, Fields: Fields(i)}
}

// Close closes the deployment and removes its directory.
func (e *Env) Close() error {
	var err error
	if e.KW != nil {
		err = e.KW.Close()
	}
	if rmErr := os.RemoveAll(e.Dir); err == nil {
		err = rmErr
	}
	return err
}

// ValueInClear reports whether the notes value of entry i appears in the
// clear in any file of the deployment's data directory (the database and
// its WAL; the attachments directory is skipped: entries have none). It is
// how the benchmarks check which kind of deployment they measure.
func (e *Env) ValueInClear(i int) (bool, error) {
	value := []byte(Fields(i)["notes"])
	files, err := filepath.Glob(filepath.Join(e.Dir, "data", "*"))
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		if bytes.Contains(b, value) {
			return true, nil
		}
	}
	return false, nil
}
