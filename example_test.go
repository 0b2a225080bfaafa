package keyward_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward"
)

// exampleConfig keeps examples self-contained: a temporary data directory
// and a temporary directory for the auto key file.
func exampleConfig() (keyward.Config, func()) {
	dir, err := os.MkdirTemp("", "keyward-example-")
	if err != nil {
		log.Fatal(err)
	}
	return keyward.Config{
		DataDir: filepath.Join(dir, "data"),
		KeyDir:  filepath.Join(dir, "keys"),
	}, func() { os.RemoveAll(dir) }
}

// Initialise a deployment once, then open it and store an entry.
func Example() {
	ctx := context.Background()
	cfg, cleanup := exampleConfig()
	defer cleanup()

	res, err := keyward.Init(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	// Show res.RecoveryKey to the operator once; it is stored nowhere.
	_ = res.RecoveryKey

	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer kw.Close()

	db, err := kw.CreateDatabase(ctx, "prod")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Put(ctx, keyward.Entry{
		Path:   "postgres/main",
		Type:   "database",
		Fields: map[string]string{"user": "app", "password": "s3cret"},
	}); err != nil {
		log.Fatal(err)
	}
	e, err := db.Get(ctx, "postgres/main")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Path, e.Revision, e.Fields["user"])
	// Output: postgres/main 1 app
}

// A write that passes the revision it read fails if someone else wrote in
// between, so no update is lost.
func ExampleDatabase_Put_compareAndSwap() {
	ctx := context.Background()
	cfg, cleanup := exampleConfig()
	defer cleanup()
	if _, err := keyward.Init(ctx, cfg); err != nil {
		log.Fatal(err)
	}
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer kw.Close()
	db, _ := kw.CreateDatabase(ctx, "app")

	first, _ := db.Put(ctx, keyward.Entry{Path: "token", Fields: map[string]string{"v": "1"}})
	_, _ = db.Put(ctx, keyward.Entry{Path: "token", Fields: map[string]string{"v": "2"}}) // another writer

	stale := first
	stale.Fields = map[string]string{"v": "3"}
	_, err = db.Put(ctx, stale)
	fmt.Println(errors.Is(err, keyward.ErrConflict))
	// Output: true
}

// Attachments stream in and out in constant memory, and can be read by
// range.
func ExampleDatabase_OpenAttachment() {
	ctx := context.Background()
	cfg, cleanup := exampleConfig()
	defer cleanup()
	if _, err := keyward.Init(ctx, cfg); err != nil {
		log.Fatal(err)
	}
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer kw.Close()
	db, _ := kw.CreateDatabase(ctx, "docs")
	if _, err := db.Put(ctx, keyward.Entry{Path: "contract"}); err != nil {
		log.Fatal(err)
	}
	body := strings.Repeat("0123456789", 20000) // 200 kB: four chunks
	if _, err := db.PutAttachment(ctx, "contract", "contract.txt", strings.NewReader(body)); err != nil {
		log.Fatal(err)
	}
	r, err := db.OpenAttachment(ctx, "contract", "contract.txt")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Seek(150003, io.SeekStart); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(r, buf); err != nil {
		log.Fatal(err)
	}
	all, _ := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	fmt.Println(string(buf), r.Size(), bytes.Equal(all, []byte(body)))
	// Output: 34567 200000 true
}
