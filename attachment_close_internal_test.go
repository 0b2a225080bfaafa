package keyward

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/crypt"
)

// TestAttachmentReaderCloseWipes: Close closes the decrypting reader (which
// wipes the plaintext chunk it caches and forgets the stream key), and
// every later call fails with fs.ErrClosed, never as an integrity error.
func TestAttachmentReaderCloseWipes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys")}
	if _, err := Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	kw, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	db, err := kw.CreateDatabase(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Put(ctx, Entry{Path: "e"}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("secret-"), crypt.ChunkSize/3)
	if _, err := db.PutAttachment(ctx, "e", "a", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	ar, err := db.OpenAttachment(ctx, "e", "a")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	if _, err := ar.ReadAt(p, 5); err != nil { // a partial chunk: cached in ar.r
		t.Fatal(err)
	}
	if err := ar.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ar.r.ReadAt(p, 5); err == nil {
		t.Error("the decrypting reader still reads after Close: its cached plaintext was not wiped")
	}
	for name, call := range map[string]func() error{
		"Read":   func() error { _, err := ar.Read(p); return err },
		"ReadAt": func() error { _, err := ar.ReadAt(p, 0); return err },
		"Seek":   func() error { _, err := ar.Seek(0, 0); return err },
	} {
		if err := call(); !errors.Is(err, fs.ErrClosed) || errors.Is(err, ErrIntegrity) {
			t.Errorf("%s after Close = %v, want fs.ErrClosed", name, err)
		}
	}
	if err := ar.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
