package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

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

	const size = 256 << 20
	var resp *http.Response
	growth := kwtest.PeakHeapGrowth(func() {
		req, _ := http.NewRequest("PUT", ts.URL+"/v1/db/app/entries/x/attachments/big.bin", kwtest.Zeros(size))
		req.Header.Set("Authorization", "Bearer "+res.AdminToken)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err = http.DefaultClient.Do(req)
	})
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
	t.Logf("heap in use grew by %d MiB during a %d MiB upload", growth>>20, size>>20)
	if growth > 32<<20 {
		t.Errorf("the heap grew by %s during the upload, want under 32 MiB", fmt.Sprintf("%d MiB", growth>>20))
	}
}
