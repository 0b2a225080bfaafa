package keyward_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// setupWrapped initialises a deployment and opens it on the SQLite store
// wrapped by wrap (which hides the store's optional methods, such as
// reading several chunks per query).
func setupWrapped(t *testing.T, wrap func(store.Store) store.Store) (*keyward.Keyward, keyward.Config) {
	t.Helper()
	ctx := context.Background()
	_, cfg, _ := setup(t)
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, keyward.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	kw, err := keyward.Open(ctx, keyward.Config{Store: wrap(st), KeyDir: cfg.KeyDir})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { kw.Close() })
	return kw, cfg
}

// wrappedStore is a store.Store with none of the SQLite store's extra
// methods; BeginAttachment may wrap the writer.
type wrappedStore struct {
	store.Store
	wrapWriter func(store.AttachmentWriter) store.AttachmentWriter
}

func (s wrappedStore) BeginAttachment(ctx context.Context, a store.Attachment) (store.AttachmentWriter, error) {
	w, err := s.Store.BeginAttachment(ctx, a)
	if err != nil || s.wrapWriter == nil {
		return w, err
	}
	return s.wrapWriter(w), nil
}

// testBody is n bytes that differ at every position.
func testBody(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}

// checkRandomAccess reads body back from r in random ranges, sequentially
// with small reads, and from several goroutines at once.
func checkRandomAccess(t *testing.T, r *keyward.AttachmentReader, body []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	size := int64(len(body))
	for i := range 300 {
		var off int64
		switch i % 3 {
		case 0: // anywhere
			off = rng.Int64N(size)
		case 1: // around a chunk boundary
			off = max(0, min(size-1, rng.Int64N(size/crypt.ChunkSize+1)*crypt.ChunkSize-rng.Int64N(100)))
		case 2: // a chunk read before, near the end or the start
			off = []int64{0, size - 1, size / 2, crypt.ChunkSize}[rng.IntN(4)]
		}
		off = min(off, size-1)
		p := make([]byte, 1+rng.IntN(3*crypt.ChunkSize))
		n, err := r.ReadAt(p, off)
		want := body[off:min(size, off+int64(len(p)))]
		if n != len(want) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d bytes, %v; wrong contents or length", len(p), off, n, err)
		}
		if (n < len(p)) != (err == io.EOF) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 10007)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), body) {
		t.Fatalf("sequential read: %d bytes, want the %d of the body", got.Len(), len(body))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			p := make([]byte, 5000)
			for range 50 {
				off := rng.Int64N(size)
				n, err := r.ReadAt(p, off)
				if (err != nil && err != io.EOF) || !bytes.Equal(p[:n], body[off:min(size, off+int64(len(p)))]) {
					t.Errorf("concurrent ReadAt(%d) = %d, %v; wrong contents", off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAttachmentRandomAccess(t *testing.T) {
	for _, c := range []struct {
		name string
		open func(t *testing.T) *keyward.Keyward
	}{
		{"sqlite", func(t *testing.T) *keyward.Keyward { kw, _, _ := setup(t); return kw }},
		{"one-chunk-per-call", func(t *testing.T) *keyward.Keyward {
			kw, _ := setupWrapped(t, func(s store.Store) store.Store { return wrappedStore{Store: s} })
			return kw
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db := mustDB(t, c.open(t), "d")
			if _, err := db.Put(ctx, keyward.Entry{Path: "e"}); err != nil {
				t.Fatal(err)
			}
			for _, size := range []int{1, crypt.ChunkSize, 2*crypt.ChunkSize + 1, 21*crypt.ChunkSize + 1234} {
				body := testBody(size)
				name := fmt.Sprint(size)
				if _, err := db.PutAttachment(ctx, "e", name, bytes.NewReader(body)); err != nil {
					t.Fatal(err)
				}
				r, err := db.OpenAttachment(ctx, "e", name)
				if err != nil {
					t.Fatal(err)
				}
				if r.Size() != int64(size) {
					t.Fatalf("Size() = %d, want %d", r.Size(), size)
				}
				checkRandomAccess(t, r, body)
				r.Close()
			}
		})
	}
}

// storeKinds opens a deployment on the SQLite store as it is (attachment
// reads through one open file, writes in batches) and wrapped so that it
// offers none of its optional methods (one chunk per call, both ways).
var storeKinds = []struct {
	name   string
	stream bool // reads go through store.ChunkStreamOpener
	open   func(t *testing.T) (*keyward.Keyward, keyward.Config)
}{
	{"sqlite", true, func(t *testing.T) (*keyward.Keyward, keyward.Config) { kw, cfg, _ := setup(t); return kw, cfg }},
	{"one-chunk-per-call", false, func(t *testing.T) (*keyward.Keyward, keyward.Config) {
		return setupWrapped(t, func(s store.Store) store.Store {
			return wrappedStore{Store: s, wrapWriter: func(w store.AttachmentWriter) store.AttachmentWriter { return chunkOnlyWriter{w} }}
		})
	}},
}

// chunkOnlyWriter hides the optional methods of an AttachmentWriter.
type chunkOnlyWriter struct{ store.AttachmentWriter }

// TestAttachmentFileDamagedWhileReading truncates an attachment's file,
// and then deletes the attachment, while readers are open: reads of the
// truncated file fail with an integrity error naming the attachment, and
// never give wrong bytes. A deleted attachment reads as it was (the SQLite
// store's open file) until the reader is closed, or fails with ErrNotFound
// (a store read chunk by chunk); after Close reads fail with fs.ErrClosed.
func TestAttachmentFileDamagedWhileReading(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			kw, cfg := kind.open(t)
			ctx := context.Background()
			db := mustDB(t, kw, "d")
			db.Put(ctx, keyward.Entry{Path: "e"})
			body := testBody(20*crypt.ChunkSize + 99)
			if _, err := db.PutAttachment(ctx, "e", "a", bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			r, err := db.OpenAttachment(ctx, "e", "a")
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 2*crypt.ChunkSize)
			if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, body[:len(head)]) {
				t.Fatalf("first chunks: %v", err)
			}
			files, err := filepath.Glob(filepath.Join(cfg.DataDir, sqlite.AttachmentsDir, "*"))
			if err != nil || len(files) != 1 {
				t.Fatalf("attachment files = %v, %v; want one", files, err)
			}
			const left = 12 // chunks left in the file
			if err := os.Truncate(files[0], left*(crypt.ChunkSize+crypt.ChunkOverhead)); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(r)
			if !errors.Is(err, keyward.ErrIntegrity) || !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), `attachment "a"`) {
				t.Errorf("reading a truncated file: %v, want an integrity error naming the attachment", err)
			}
			// What is still in the file (or what the reader had fetched
			// before the damage) may come out; nothing past it, and never
			// other bytes.
			if got := append(head, rest...); !bytes.Equal(got, body[:len(got)]) || len(got) > left*crypt.ChunkSize {
				t.Errorf("read %d bytes before the error, not a prefix of the first %d chunks", len(got), left)
			}
			r.Close()

			r, err = db.OpenAttachment(ctx, "e", "a")
			if err == nil {
				_, err = r.ReadAt(make([]byte, 10), 3*crypt.ChunkSize)
				r.Close()
			}
			if !errors.Is(err, keyward.ErrIntegrity) {
				t.Errorf("opening and reading a truncated file = %v, want an integrity error", err)
			}
			// Replaced by a good copy, then deleted while a reader is open.
			if _, err := db.PutAttachment(ctx, "e", "a", bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			r, err = db.OpenAttachment(ctx, "e", "a")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.ReadAt(make([]byte, 10), 3*crypt.ChunkSize); err != nil {
				t.Fatalf("ReadAt in the replacement = %v", err)
			}
			if err := db.DeleteAttachment(ctx, "e", "a"); err != nil {
				t.Fatal(err)
			}
			// (On Windows a file open for reading cannot be removed: it
			// stays as an orphan for the sweep.)
			if left, _ := filepath.Glob(filepath.Join(cfg.DataDir, sqlite.AttachmentsDir, "*")); len(left) != 0 && (!kind.stream || runtime.GOOS != "windows") {
				t.Errorf("files left after DeleteAttachment: %v", left)
			}
			p := make([]byte, 2*crypt.ChunkSize)
			off := int64(17 * crypt.ChunkSize)
			n, err := r.ReadAt(p, off)
			if kind.stream {
				if err != nil || !bytes.Equal(p[:n], body[off:off+int64(len(p))]) {
					t.Errorf("ReadAt in a deleted attachment, open before = %d, %v; want its bytes as they were", n, err)
				}
			} else if !errors.Is(err, store.ErrNotFound) || errors.Is(err, keyward.ErrIntegrity) {
				t.Errorf("ReadAt in a deleted attachment = %v, want ErrNotFound (not an integrity error)", err)
			}
			r.Close()
			if _, err := r.ReadAt(p, 5*crypt.ChunkSize); !errors.Is(err, fs.ErrClosed) || errors.Is(err, keyward.ErrIntegrity) {
				t.Errorf("ReadAt after Close = %v, want fs.ErrClosed (not an integrity error)", err)
			}
			if _, err := db.OpenAttachment(ctx, "e", "a"); !errors.Is(err, keyward.ErrNotFound) {
				t.Errorf("OpenAttachment of the deleted attachment = %v, want ErrNotFound", err)
			}
		})
	}
}

// failingWriter fails WriteChunk from chunk failAt on.
type failingWriter struct {
	store.AttachmentWriter
	failAt int64

	mu      sync.Mutex
	written int64
	after   bool // set when PutAttachment has returned
	late    bool // a write came after that
}

var errStoreBroke = errors.New("store broke")

func (w *failingWriter) WriteChunk(ctx context.Context, index int64, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.after {
		w.late = true
	}
	if index >= w.failAt {
		return errStoreBroke
	}
	w.written++
	return w.AttachmentWriter.WriteChunk(ctx, index, data)
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r    io.Reader
	mu   sync.Mutex
	n    int
	hook func(n int) // called after each read
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.n += n
	total := c.n
	c.mu.Unlock()
	if c.hook != nil {
		c.hook(total)
	}
	return n, err
}

// pendingRows counts uploads that were neither committed nor removed: the
// .part files in the attachments directory.
func pendingRows(t *testing.T, cfg keyward.Config) int {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(cfg.DataDir, sqlite.AttachmentsDir, "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return len(parts)
}

func TestPutAttachmentStoreFails(t *testing.T) {
	var w *failingWriter
	kw, cfg := setupWrapped(t, func(s store.Store) store.Store {
		return wrappedStore{Store: s, wrapWriter: func(aw store.AttachmentWriter) store.AttachmentWriter {
			if w == nil {
				return aw // the first upload succeeds
			}
			w.AttachmentWriter = aw
			return w
		}}
	})
	ctx := context.Background()
	db := mustDB(t, kw, "d")
	db.Put(ctx, keyward.Entry{Path: "e"})
	old := testBody(3*crypt.ChunkSize + 5)
	if _, err := db.PutAttachment(ctx, "e", "a", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}

	w = &failingWriter{failAt: 40} // after 40 chunks went to the store
	src := &countingReader{r: bytes.NewReader(testBody(400 * crypt.ChunkSize))}
	_, err := db.PutAttachment(ctx, "e", "a", src)
	w.mu.Lock()
	w.after = true
	w.mu.Unlock()
	if !errors.Is(err, errStoreBroke) {
		t.Fatalf("PutAttachment with a failing store = %v, want its error", err)
	}
	// Reading stops soon after the failure: at most the chunks in flight
	// and one block of read-ahead (1 MiB).
	if limit := (40+20)*crypt.ChunkSize + 1<<20; src.n > limit {
		t.Errorf("read %d bytes of the source after the store failed at chunk 40, want at most %d", src.n, limit)
	}
	if n := pendingRows(t, cfg); n != 0 {
		t.Errorf("%d pending uploads left behind, want the failed one aborted", n)
	}
	r, err := db.OpenAttachment(ctx, "e", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, old) {
		t.Errorf("after a failed upload: %d bytes, %v; want the previous attachment", len(got), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.late {
		t.Errorf("WriteChunk was called after PutAttachment returned")
	}
}

func TestPutAttachmentCancelled(t *testing.T) {
	kw, cfg, _ := setup(t)
	db := mustDB(t, kw, "d")
	db.Put(context.Background(), keyward.Entry{Path: "e"})
	old := []byte("previous contents")
	if _, err := db.PutAttachment(context.Background(), "e", "a", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{1, 17 * crypt.ChunkSize, 50*crypt.ChunkSize + 3} {
		ctx, cancel := context.WithCancel(context.Background())
		src := &countingReader{r: bytes.NewReader(testBody(200 * crypt.ChunkSize)), hook: func(n int) {
			if n >= at {
				cancel()
			}
		}}
		_, err := db.PutAttachment(ctx, "e", "a", src)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("PutAttachment cancelled after %d bytes = %v, want context.Canceled", at, err)
		}
		r, err := db.OpenAttachment(context.Background(), "e", "a")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, old) {
			t.Errorf("after a cancelled upload: %q, %v; want the previous attachment", got, err)
		}
		if n := pendingRows(t, cfg); n != 0 {
			t.Errorf("%d pending uploads left after a cancelled upload, want none", n)
		}
	}
}
