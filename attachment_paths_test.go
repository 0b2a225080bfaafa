package keyward_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// Tests of the two attachment paths: the SQLite store's optional methods
// (store.ChunkStreamOpener to read, store.ChunkBatchWriter to write) and
// the fallback of a store without them (one chunk per call). Both run on
// the SQLite store, wrapped in types that count the calls and the bytes.

// ioCounts counts what a countingStore saw.
type ioCounts struct {
	mu          sync.Mutex
	writeChunk  int   // WriteChunk calls
	writeChunks int   // WriteChunks calls
	read        int64 // ciphertext bytes read from the store
}

func (c *ioCounts) add(field *int, n int) {
	c.mu.Lock()
	*field += n
	c.mu.Unlock()
}

func (c *ioCounts) addRead(n int) {
	c.mu.Lock()
	c.read += int64(n)
	c.mu.Unlock()
}

func (c *ioCounts) get() (writeChunk, writeChunks int, read int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeChunk, c.writeChunks, c.read
}

func (c *ioCounts) reset() {
	c.mu.Lock()
	c.writeChunk, c.writeChunks, c.read = 0, 0, 0
	c.mu.Unlock()
}

// countingStore offers only store.Store's methods (the fallback path).
type countingStore struct {
	store.Store
	c       *ioCounts
	batches bool // writers take batches
}

func (s countingStore) BeginAttachment(ctx context.Context, a store.Attachment) (store.AttachmentWriter, error) {
	w, err := s.Store.BeginAttachment(ctx, a)
	if err != nil {
		return nil, err
	}
	cw := countingWriter{AttachmentWriter: w, c: s.c}
	if s.batches {
		return countingBatchWriter{cw}, nil
	}
	return cw, nil
}

func (s countingStore) AttachmentChunk(ctx context.Context, id string, index int64) ([]byte, error) {
	b, err := s.Store.AttachmentChunk(ctx, id, index)
	s.c.addRead(len(b))
	return b, err
}

// countingStreamStore also opens chunk streams (the fast path).
type countingStreamStore struct{ countingStore }

func (s countingStreamStore) OpenChunkStream(ctx context.Context, id string) (store.ChunkStream, error) {
	cs, err := s.Store.(store.ChunkStreamOpener).OpenChunkStream(ctx, id)
	if err != nil {
		return nil, err
	}
	return countingStream{ChunkStream: cs, c: s.c}, nil
}

type countingStream struct {
	store.ChunkStream
	c *ioCounts
}

func (cs countingStream) ReadAt(p []byte, off int64) (int, error) {
	n, err := cs.ChunkStream.ReadAt(p, off)
	cs.c.addRead(n)
	return n, err
}

type countingWriter struct {
	store.AttachmentWriter
	c *ioCounts
}

func (w countingWriter) WriteChunk(ctx context.Context, index int64, data []byte) error {
	w.c.add(&w.c.writeChunk, 1)
	return w.AttachmentWriter.WriteChunk(ctx, index, data)
}

type countingBatchWriter struct{ countingWriter }

func (w countingBatchWriter) WriteChunks(ctx context.Context, first int64, data []byte, chunkLen int) error {
	w.c.add(&w.c.writeChunks, 1)
	return w.AttachmentWriter.(store.ChunkBatchWriter).WriteChunks(ctx, first, data, chunkLen)
}

// pathKinds are the two paths, on counting stores.
var pathKinds = []struct {
	name string
	fast bool
}{{"fast", true}, {"fallback", false}}

func openCounting(t *testing.T, fast bool) (*keyward.Database, keyward.Config, *ioCounts) {
	t.Helper()
	c := &ioCounts{}
	kw, cfg := setupWrapped(t, func(s store.Store) store.Store {
		cs := countingStore{Store: s, c: c, batches: fast}
		if fast {
			return countingStreamStore{cs}
		}
		return cs
	})
	db := mustDB(t, kw, "d")
	if _, err := db.Put(context.Background(), keyward.Entry{Path: "e"}); err != nil {
		t.Fatal(err)
	}
	return db, cfg, c
}

func TestAttachmentPathsRoundTrip(t *testing.T) {
	const cs = crypt.ChunkSize
	for _, kind := range pathKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			db, _, c := openCounting(t, kind.fast)
			for _, size := range []int{0, 1, cs - 1, cs, cs + 1, 16 * cs, 16*cs + 1, 17 * cs, 33*cs + 5} {
				body := testBody(size)
				name := fmt.Sprint(size)
				c.reset()
				a, err := db.PutAttachment(ctx, "e", name, bytes.NewReader(body))
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				chunks := max(1, (size+cs-1)/cs)
				one, batches, _ := c.get()
				if kind.fast && (one != 0 || batches != (chunks+15)/16) || !kind.fast && (one != chunks || batches != 0) {
					t.Errorf("size %d (%d chunks): %d WriteChunk and %d WriteChunks calls", size, chunks, one, batches)
				}
				if a.Size != int64(size) {
					t.Errorf("size %d: stored Size %d", size, a.Size)
				}
				c.reset()
				r, err := db.OpenAttachment(ctx, "e", name)
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, body) || r.Size() != int64(size) {
					t.Fatalf("size %d: read back %d bytes, %v; Size() = %d", size, len(got), err, r.Size())
				}
				// Every chunk read once, and the last perhaps once more
				// (the open reads it to prove the size).
				lastSealed := int64(size-(chunks-1)*cs) + crypt.ChunkOverhead
				stored := int64(chunks-1)*(cs+crypt.ChunkOverhead) + lastSealed
				if _, _, read := c.get(); kind.fast && (read < stored || read > stored+lastSealed) {
					t.Errorf("size %d: read %d bytes of ciphertext, want %d to %d", size, read, stored, stored+lastSealed)
				}
			}
		})
	}
}

// TestAttachmentPathsReadOnlyWhatIsNeeded checks that a ranged read fetches
// only the chunks it covers.
func TestAttachmentPathsReadOnlyWhatIsNeeded(t *testing.T) {
	const cs, sealed = crypt.ChunkSize, crypt.ChunkSize + crypt.ChunkOverhead
	for _, kind := range pathKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			db, _, c := openCounting(t, kind.fast)
			body := testBody(33*cs + 5)
			if _, err := db.PutAttachment(ctx, "e", "a", bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			r, err := db.OpenAttachment(ctx, "e", "a")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, rg := range []struct{ off, n, chunks int64 }{
				{20*cs + 7, 10, 1},
				{3 * cs, 2 * cs, 2},
				{cs - 3, 6, 2},
				{0, 1, 1},
				{33 * cs, 5, 1},
			} {
				c.reset()
				p := make([]byte, rg.n)
				if n, err := r.ReadAt(p, rg.off); err != nil || !bytes.Equal(p[:n], body[rg.off:rg.off+rg.n]) {
					t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", rg.n, rg.off, n, err)
				}
				if _, _, read := c.get(); read > rg.chunks*sealed {
					t.Errorf("ReadAt(%d bytes at %d) read %d bytes of ciphertext, want at most %d chunks", rg.n, rg.off, read, rg.chunks)
				}
			}
		})
	}
}

// TestAttachmentPathsTampered alters and truncates the attachment file:
// both paths report an *IntegrityError naming the entry and attachment,
// and give out no byte of a chunk that did not authenticate.
func TestAttachmentPathsTampered(t *testing.T) {
	const cs, sealed = crypt.ChunkSize, crypt.ChunkSize + crypt.ChunkOverhead
	for _, kind := range pathKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			db, cfg, _ := openCounting(t, kind.fast)
			body := testBody(33*cs + 5)
			if _, err := db.PutAttachment(ctx, "e", "a", bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			files, err := filepath.Glob(filepath.Join(cfg.DataDir, sqlite.AttachmentsDir, "*"))
			if err != nil || len(files) != 1 {
				t.Fatalf("attachment files = %v, %v", files, err)
			}
			f, err := os.OpenFile(files[0], os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := []byte{0}
			f.ReadAt(b, 20*sealed+100)
			b[0] ^= 1
			if _, err := f.WriteAt(b, 20*sealed+100); err != nil {
				t.Fatal(err)
			}
			checkIntegrity := func(what string, err error) {
				t.Helper()
				var ie *keyward.IntegrityError
				if !errors.As(err, &ie) || ie.Path != "e" || ie.Attachment != "a" {
					t.Errorf("%s: %v, want an *IntegrityError naming entry e and attachment a", what, err)
				}
			}
			r, err := db.OpenAttachment(ctx, "e", "a")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			checkIntegrity("reading an altered chunk", err)
			if !bytes.Equal(got, body[:len(got)]) || len(got) > 20*cs {
				t.Errorf("read %d bytes before the altered chunk 20, want a prefix of at most 20 chunks", len(got))
			}
			if err := f.Truncate(33*sealed + 2); err != nil { // the last chunk cut short
				t.Fatal(err)
			}
			r, err = db.OpenAttachment(ctx, "e", "a")
			if err == nil {
				r.Close()
			}
			checkIntegrity("opening a truncated file", err)
			if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("opening a truncated file: %v, want ErrCorrupt", err)
			}
		})
	}
}
