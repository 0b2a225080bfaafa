package main

// The measured keyward operations. Each runs in a child process, kwbench
// re-executing itself as `kwbench __child OP ARGS...`, so that its wall
// time and peak RSS are its own, measured like the age CLI's.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/secret"
)

// childArg is the hidden first argument that selects a child operation.
const childArg = "__child"

// copyBufSize is the buffer of every io.CopyBuffer below. One MiB means one
// read or write system call per 16 chunks instead of two per chunk with
// io.Copy's 32 KiB, and lets crypt's writer seal 15 of every 16 chunks
// straight from the caller's buffer instead of copying them first.
const copyBufSize = 1 << 20

// Names in the library deployment the attachment benchmark uses.
const (
	libDB         = "bench"
	libEntry      = "files/input"
	libAttachment = "input.bin"
	streamVersion = 1
)

// streamCtx binds the streams of the file→file benchmark.
var streamCtx = crypt.Context{Deployment: "kwbench", Database: "bench", Record: "input", Purpose: "attachment"}

// childOps are the operations a child can run, with their argument count.
var childOps = map[string]struct {
	nargs int
	run   func(args []string) error
}{
	"stream-enc":      {3, func(a []string) error { return streamEncrypt(a[0], a[1], a[2], false) }},
	"stream-dec":      {3, func(a []string) error { return streamDecrypt(a[0], a[1], a[2], false) }},
	"stream-enc-pipe": {3, func(a []string) error { return streamEncrypt(a[0], a[1], a[2], true) }},
	"stream-dec-pipe": {3, func(a []string) error { return streamDecrypt(a[0], a[1], a[2], true) }},
	"lib-put":         {2, func(a []string) error { return libPut(a[0], a[1]) }},
	"lib-get":         {2, func(a []string) error { return libGet(a[0], a[1]) }},
	"lib-rm":          {1, func(a []string) error { return libRemove(a[0]) }},
	// Unmeasured set-up work, done in children too so that kwbench's own
	// RSS stays small (see measure).
	"lib-setup": {1, func(a []string) error { return libSetup(context.Background(), a[0]) }},
	"gen":       {2, func(a []string) error { return printSum(writeRandom(a[0], a[1])) }},
	"sha256":    {1, func(a []string) error { return printSum(hashFile(a[0])) }},
}

// childMain runs one operation and returns the exit code.
func childMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "kwbench: child: no operation")
		return 2
	}
	op, ok := childOps[args[0]]
	if !ok || len(args)-1 != op.nargs {
		fmt.Fprintf(os.Stderr, "kwbench: child: bad operation %q\n", args)
		return 2
	}
	if err := op.run(args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "kwbench: child %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// readerOnly and writerOnly hide WriterTo and ReaderFrom, so that
// io.CopyBuffer really uses the buffer it is given: *os.File's WriteTo and
// ReadFrom fall back to io.Copy with 32 KiB when the other side is not a
// file or a socket.
type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

// readKey reads the raw stream key from path.
func readKey(path string) (*secret.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != crypt.KeySize {
		return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(b), crypt.KeySize)
	}
	return secret.FromBytes(b), nil
}

// streamEncrypt encrypts the file in to the file out with crypt.NewWriter;
// with pipe, the output file sits behind an asyncWriter.
func streamEncrypt(keyPath, in, out string, pipe bool) error {
	key, err := readKey(keyPath)
	if err != nil {
		return err
	}
	defer key.Wipe()
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	var sink io.Writer = dst
	flush := func() error { return nil }
	if pipe {
		aw := newAsyncWriter(dst)
		sink, flush = aw, aw.Close
	}
	w, err := crypt.NewWriter(sink, key, streamVersion, streamCtx)
	if err != nil {
		return errors.Join(err, flush(), dst.Close())
	}
	_, err = io.CopyBuffer(w, readerOnly{src}, make([]byte, copyBufSize))
	return errors.Join(err, w.Close(), flush(), dst.Close())
}

// streamDecrypt decrypts the file in to the file out with crypt.NewReader;
// with pipe, the output file sits behind an asyncWriter.
func streamDecrypt(keyPath, in, out string, pipe bool) error {
	key, err := readKey(keyPath)
	if err != nil {
		return err
	}
	defer key.Wipe()
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	r, err := crypt.NewReader(src, st.Size(), key, streamCtx)
	if err != nil {
		return err
	}
	defer r.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	if pipe {
		aw := newAsyncWriter(dst)
		_, err = aw.ReadFrom(r)
		return errors.Join(err, aw.Close(), dst.Close())
	}
	_, err = io.CopyBuffer(writerOnly{dst}, r, make([]byte, copyBufSize))
	return errors.Join(err, dst.Close())
}

// libConfig is the deployment under base: data and auto key file.
func libConfig(base string) keyward.Config {
	return keyward.Config{DataDir: filepath.Join(base, "data"), KeyDir: filepath.Join(base, "keys")}
}

// libSetup creates the deployment, its database and the entry the
// attachment belongs to. It runs once, in the parent, before any timing.
func libSetup(ctx context.Context, base string) error {
	cfg := libConfig(base)
	if _, err := keyward.Init(ctx, cfg); err != nil {
		return err
	}
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer kw.Close()
	db, err := kw.CreateDatabase(ctx, libDB)
	if err != nil {
		return err
	}
	_, err = db.Put(ctx, keyward.Entry{Path: libEntry, Type: "file", Fields: map[string]string{"note": "kwbench input"}})
	return err
}

// openLib opens the deployment under base and its benchmark database.
func openLib(ctx context.Context, base string) (*keyward.Keyward, *keyward.Database, error) {
	kw, err := keyward.Open(ctx, libConfig(base))
	if err != nil {
		return nil, nil, err
	}
	db, err := kw.Database(ctx, libDB)
	if err != nil {
		kw.Close()
		return nil, nil, err
	}
	return kw, db, nil
}

// libPut stores the file in as the entry's attachment with
// Database.PutAttachment (a new one: lib-rm removed the previous round's).
func libPut(base, in string) error {
	ctx := context.Background()
	kw, db, err := openLib(ctx, base)
	if err != nil {
		return err
	}
	defer kw.Close()
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = db.PutAttachment(ctx, libEntry, libAttachment, src)
	return err
}

// libRemove deletes the entry's attachment if there is one, so that the
// next lib-put stores a new attachment rather than replacing one (as the
// other encrypting ops write a new file: see work.reset).
func libRemove(base string) error {
	ctx := context.Background()
	kw, db, err := openLib(ctx, base)
	if err != nil {
		return err
	}
	defer kw.Close()
	if err := db.DeleteAttachment(ctx, libEntry, libAttachment); err != nil && !errors.Is(err, keyward.ErrNotFound) {
		return err
	}
	return nil
}

// libGet writes the entry's attachment, decrypted, to the file out with
// Database.OpenAttachment.
func libGet(base, out string) error {
	ctx := context.Background()
	kw, db, err := openLib(ctx, base)
	if err != nil {
		return err
	}
	defer kw.Close()
	ar, err := db.OpenAttachment(ctx, libEntry, libAttachment)
	if err != nil {
		return err
	}
	defer ar.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(writerOnly{dst}, ar, make([]byte, copyBufSize))
	return errors.Join(err, dst.Close())
}
