package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/client"
)

func TestCompareAndSwap(t *testing.T) {
	_, rec, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{"user": "admin"}
	e, err := c.Create(ctx, "app", "prod/db", api.PutEntry{Fields: fields, Type: "credential", Tags: []string{"prod"}})
	if err != nil || e.Revision != 1 {
		t.Fatalf("Create = %+v, %v, want revision 1", e, err)
	}
	if _, err := c.Create(ctx, "app", "prod/db", api.PutEntry{Fields: fields}); !errors.Is(err, client.ErrExists) {
		t.Errorf("Create over an entry = %v, want ErrExists", err)
	}
	e, err = c.Put(ctx, "app", "prod/db", api.PutEntry{Fields: fields, Revision: 1})
	if err != nil || e.Revision != 2 {
		t.Fatalf("Put(revision 1) = %+v, %v, want revision 2", e, err)
	}
	if got := rec.last().Header.Get(api.HeaderIfMatch); got != "1" {
		t.Errorf("Put(revision 1) sent If-Match %q, want 1", got)
	}
	_, err = c.Put(ctx, "app", "prod/db", api.PutEntry{Fields: map[string]string{"user": "mallory"}, Revision: 1})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed || !errors.Is(err, client.ErrConflict) {
		t.Errorf("Put(stale revision) = %v, want a 412 matching ErrConflict", err)
	}
	if _, err := c.Put(ctx, "app", "nothing", api.PutEntry{Fields: fields, Revision: 3}); !errors.Is(err, client.ErrConflict) {
		t.Errorf("Put(revision 3) of a missing entry = %v, want ErrConflict", err)
	}
	got, err := c.Get(ctx, "app", "prod/db")
	if err != nil || got.Fields["user"] != "admin" || got.Revision != 2 {
		t.Errorf("Get after a refused write = %+v, %v, want revision 2 unchanged", got, err)
	}
	if err := c.Delete(ctx, "app", "prod/db", 1); !errors.Is(err, client.ErrConflict) {
		t.Errorf("Delete(stale revision) = %v, want ErrConflict", err)
	}
	if err := c.Delete(ctx, "app", "prod/db", 2); err != nil {
		t.Errorf("Delete(revision 2) = %v", err)
	}
	if err := c.Delete(ctx, "app", "prod/db", 0); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Delete twice = %v, want ErrNotFound", err)
	}
}

// Paths with characters that mean something in a URL arrive intact.
var awkwardPaths = []string{"a b/c", "q?x=1#frag", "x/attachments", "attachments", "x/attachments/y", "a/../b", "./c", "100%", "é/ü", "semi;colon"}

func TestPathEscaping(t *testing.T) {
	_, _, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	for _, p := range awkwardPaths {
		if _, err := c.Put(ctx, "app", p, api.PutEntry{Fields: map[string]string{"p": p}}); err != nil {
			t.Errorf("Put(%q) = %v", p, err)
			continue
		}
		if _, err := c.PutAttachment(ctx, "app", p, "f i?le", strings.NewReader(p), -1); err != nil {
			t.Errorf("PutAttachment(%q) = %v", p, err)
		}
	}
	for _, p := range awkwardPaths {
		e, err := c.Get(ctx, "app", p)
		if err != nil || e.Path != p || e.Fields["p"] != p {
			t.Errorf("Get(%q) = %+v, %v, want that entry", p, e, err)
		}
		as, err := c.Attachments(ctx, "app", p)
		if err != nil || len(as) != 1 || as[0].Name != "f i?le" {
			t.Errorf("Attachments(%q) = %+v, %v, want one named %q", p, as, err, "f i?le")
		}
	}
	all, err := c.ListAll(ctx, "app", "")
	if err != nil || len(all) != len(awkwardPaths) {
		t.Errorf("ListAll = %d entries, %v, want %d", len(all), err, len(awkwardPaths))
	}
	for _, p := range []string{"", "/lead", "trail/", "dou//ble"} {
		if _, err := c.Get(ctx, "app", p); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("Get(%q) = %v, want ErrInvalid (an empty segment cannot travel in a URL)", p, err)
		}
	}
}

func TestPaging(t *testing.T) {
	_, rec, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	const n = 2*api.DefaultLimit + 7
	for i := range n {
		if _, err := c.Put(ctx, "app", fmt.Sprintf("p/%04d", i), api.PutEntry{Fields: map[string]string{"i": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Put(ctx, "app", "q/other", api.PutEntry{Fields: map[string]string{"i": "x"}}); err != nil {
		t.Fatal(err)
	}

	page, err := c.List(ctx, "app", client.ListOptions{Prefix: "p/", Limit: 10})
	if err != nil || len(page.Entries) != 10 || page.Next != "p/0009" {
		t.Fatalf("List(limit 10) = %d entries, next %q, %v; want 10, next p/0009", len(page.Entries), page.Next, err)
	}
	if page.Entries[0].Fields != nil {
		t.Errorf("List returned fields: %v", page.Entries[0].Fields)
	}

	before := rec.count()
	var got []string
	for e, err := range c.Entries(ctx, "app", "p/") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Path)
	}
	if len(got) != n || got[0] != "p/0000" || got[n-1] != fmt.Sprintf("p/%04d", n-1) {
		t.Errorf("Entries = %d paths from %v, want %d in order", len(got), got[:1], n)
	}
	if pages := rec.count() - before; pages != 3 {
		t.Errorf("Entries made %d requests, want 3 pages", pages)
	}

	// Breaking out early stops fetching.
	before = rec.count()
	for range c.Entries(ctx, "app", "") {
		break
	}
	if reqs := rec.count() - before; reqs != 1 {
		t.Errorf("Entries with an early break made %d requests, want 1", reqs)
	}
}

func TestPagingStuckServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"entries":[{"path":"a"}],"next":"a"}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	_, err := c.ListAll(context.Background(), "app", "")
	if err == nil || !strings.Contains(err.Error(), "does not move forward") {
		t.Errorf("ListAll against a server that repeats its page = %v, want an error", err)
	}
}

// genReader produces size bytes of a pattern and counts what it produced.
type genReader struct {
	size, produced int64
	counter        *atomic.Int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.produced >= g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), g.size-g.produced))
	for i := range n {
		p[i] = byte((g.produced + int64(i)) % 251)
	}
	g.produced += int64(n)
	g.counter.Store(g.produced)
	return n, nil
}

func TestPutAttachmentStreams(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("size known %v", known), func(t *testing.T) {
			const size = 64 << 20
			var produced atomic.Int64
			var producedAtFirstMiB, received int64
			var contentLength int64
			var chunked, corrupt bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				contentLength, chunked = r.ContentLength, len(r.TransferEncoding) > 0
				buf := make([]byte, 32<<10)
				for {
					n, err := r.Body.Read(buf)
					for i := range n {
						if buf[i] != byte((received+int64(i))%251) {
							corrupt = true
						}
					}
					received += int64(n)
					if producedAtFirstMiB == 0 && received >= 1<<20 {
						producedAtFirstMiB = produced.Load()
					}
					if err != nil {
						break
					}
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				fmt.Fprintf(w, `{"name":"big.bin","size":%d,"key_version":1}`, received)
			}))
			defer srv.Close()
			c, _ := client.New(srv.URL, client.WithToken(adminToken))
			sizeArg := int64(-1)
			if known {
				sizeArg = size
			}
			a, err := c.PutAttachment(context.Background(), "app", "e", "big.bin", &genReader{size: size, counter: &produced}, sizeArg)
			if err != nil || a.Size != size || received != size || corrupt {
				t.Fatalf("PutAttachment = %+v, %v; server received %d bytes (corrupt %v), want %d intact", a, err, received, corrupt, size)
			}
			// Had the client buffered the body, all 64 MiB would have been
			// produced before the server saw its first MiB.
			if producedAtFirstMiB > 16<<20 {
				t.Errorf("when the server had 1 MiB, the client had read %d MiB of the source: it buffers", producedAtFirstMiB>>20)
			}
			if known && (contentLength != size || chunked) {
				t.Errorf("size known: Content-Length %d, chunked %v; want %d, not chunked", contentLength, chunked, size)
			}
			if !known && (contentLength != -1 || !chunked) {
				t.Errorf("size unknown: Content-Length %d, chunked %v; want chunked", contentLength, chunked)
			}
		})
	}
}

func TestPutAttachmentShortSource(t *testing.T) {
	_, _, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "app", "e", api.PutEntry{Fields: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutAttachment(ctx, "app", "e", "f", strings.NewReader("short"), 100); err == nil {
		t.Error("PutAttachment with a source shorter than its size: no error")
	}
	if as, _ := c.Attachments(ctx, "app", "e"); len(as) != 0 {
		t.Errorf("after a failed upload the entry has attachments %+v, want none", as)
	}
}

func TestAttachmentRange(t *testing.T) {
	_, rec, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "app", "doc", api.PutEntry{Fields: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if _, err := c.PutAttachment(ctx, "app", "doc", "d.txt", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	read := func(off, n int64) ([]byte, error) {
		rc, err := c.OpenAttachmentRange(ctx, "app", "doc", "d.txt", off, n)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	for _, tt := range []struct{ off, n int64 }{{0, -1}, {0, 10}, {5, 3}, {9990, -1}, {9990, 100}, {1234, 0}} {
		got, err := read(tt.off, tt.n)
		end := int64(len(data))
		if tt.n >= 0 {
			end = min(end, tt.off+tt.n)
		}
		if err != nil || !bytes.Equal(got, data[tt.off:end]) {
			t.Errorf("OpenAttachmentRange(%d, %d) = %q, %v, want %q", tt.off, tt.n, got, err, data[tt.off:end])
		}
	}
	if got := rec.last().Header.Get("Range"); got != "bytes=9990-10089" {
		t.Errorf("Range header = %q, want bytes=9990-10089", got)
	}
	_, err := read(20000, 5)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end = %v, want a 416 *Error", err)
	}
	if _, err := c.OpenAttachment(ctx, "app", "doc", "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("OpenAttachment(nope) = %v, want ErrNotFound", err)
	}
	if err := c.DeleteAttachment(ctx, "app", "doc", "d.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAttachment(ctx, "app", "doc", "d.txt"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("DeleteAttachment twice = %v, want ErrNotFound", err)
	}
}

// A server that ignores Range sends everything; the client cuts the range out.
func TestAttachmentRangeIgnored(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "abcdefghij")
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	rc, err := c.OpenAttachmentRange(context.Background(), "app", "e", "n", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || string(got) != "cde" {
		t.Errorf("range 2+3 from a server ignoring Range = %q, %v, want cde", got, err)
	}
}

// A download that breaks off is an error, never a short success.
func TestDownloadBreaksOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("only part of it"))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	rc, err := c.OpenAttachment(context.Background(), "app", "e", "n")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "broke off") {
		t.Errorf("reading a broken download = %v, want an error saying it broke off", err)
	}
}

func TestTokens(t *testing.T) {
	_, _, c := setup(t)
	ctx := context.Background()
	tc, err := c.CreateToken(ctx, api.CreateToken{Name: "ci", Role: api.RoleWriter, Databases: []string{"app"}, TTL: "24h"})
	if err != nil || tc.Secret == "" || tc.Token.ID == "" || tc.Token.Expires.IsZero() {
		t.Fatalf("CreateToken = %+v, %v, want a secret, an id and an expiry", tc, err)
	}
	ts, err := c.Tokens(ctx)
	if err != nil || len(ts) != 2 {
		t.Fatalf("Tokens = %+v, %v, want 2", ts, err)
	}
	if err := c.DeleteToken(ctx, tc.Token.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteToken(ctx, tc.Token.ID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("DeleteToken twice = %v, want ErrNotFound", err)
	}
	if _, err := c.CreateToken(ctx, api.CreateToken{Role: "root"}); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("CreateToken(role root) = %v, want ErrInvalid", err)
	}
}
