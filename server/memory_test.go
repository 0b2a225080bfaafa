package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// zeroReader yields n zero bytes, generated as read: the client holds none
// of the upload in memory.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// A large upload streams through the server: the heap stays flat whatever
// the size (the issue: a 1 GiB upload must not grow the server's memory;
// 256 MiB here keeps the test quick, and nothing in the path depends on the
// size).
func TestLargeUploadKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 256 MiB")
	}
	ctx := context.Background()
	kw, _, res := kwtest.Deployment(t, keyward.Config{})
	db, err := kw.CreateDatabase(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Put(ctx, keyward.Entry{Path: "x", Fields: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Keyward: kw, MaxAttachmentBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	const size = 256 << 20
	req, _ := http.NewRequest("PUT", ts.URL+"/v1/db/app/entries/x/attachments/big.bin", &zeroReader{n: size})
	req.Header.Set("Authorization", "Bearer "+res.AdminToken)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: status %d", resp.StatusCode)
	}
	a, err := db.Attachments(ctx, "x")
	if err != nil || len(a) != 1 || a[0].Size != size {
		t.Fatalf("attachments = %+v, %v; want one of %d bytes", a, err, size)
	}
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("heap in use: %d MiB before, peak %d MiB during a %d MiB upload", before.HeapInuse>>20, peak.Load()>>20, size>>20)
	if growth > 32<<20 {
		t.Errorf("the heap grew by %s during the upload, want under 32 MiB", fmt.Sprintf("%d MiB", growth>>20))
	}
}
