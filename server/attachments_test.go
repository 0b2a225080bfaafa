package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store/sqlite"
)

// content returns n deterministic pseudo-random bytes.
func content(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'k', 'w'})
	_, _ = r.Read(b)
	return b
}

func TestAttachmentRoundTripAndRanges(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "v"})
	w := e.token(keyward.RoleWriter)
	data := content(3*crypt.ChunkSize + 100)
	var a api.Attachment
	e.must(req{method: "PUT", path: "/v1/db/app/entries/x/attachments/f.bin", token: w, body: data}, 201, &a)
	if a.Name != "f.bin" || a.Size != int64(len(data)) {
		t.Errorf("PUT attachment = %+v", a)
	}
	var l api.AttachmentList
	e.must(req{method: "GET", path: "/v1/db/app/entries/x/attachments", token: w}, 200, &l)
	if len(l.Attachments) != 1 || l.Attachments[0].Size != int64(len(data)) {
		t.Errorf("GET attachments = %+v", l)
	}
	n := int64(len(data))
	for _, c := range []struct {
		rng        string
		code       int
		from, to   int64 // expected bytes data[from:to]
		contentRng string
	}{
		{"", 200, 0, n, ""},
		{"bytes=10-19", 206, 10, 20, fmt.Sprintf("bytes 10-19/%d", n)},
		{fmt.Sprintf("bytes=%d-%d", crypt.ChunkSize-5, crypt.ChunkSize+4), 206, crypt.ChunkSize - 5, crypt.ChunkSize + 5, ""},
		{"bytes=-50", 206, n - 50, n, fmt.Sprintf("bytes %d-%d/%d", n-50, n-1, n)},
		{fmt.Sprintf("bytes=%d-", n-3), 206, n - 3, n, ""},
	} {
		r := req{method: "GET", path: "/v1/db/app/entries/x/attachments/f.bin", token: w}
		if c.rng != "" {
			r.header = map[string]string{"Range": c.rng}
		}
		code, h, b := e.do(r)
		if code != c.code || !bytes.Equal(b, data[c.from:c.to]) {
			t.Errorf("GET Range %q = %d with %d bytes, want %d with data[%d:%d]", c.rng, code, len(b), c.code, c.from, c.to)
		}
		if c.contentRng != "" && h.Get("Content-Range") != c.contentRng {
			t.Errorf("GET Range %q: Content-Range %q, want %q", c.rng, h.Get("Content-Range"), c.contentRng)
		}
	}
	eb := e.fails(req{method: "GET", path: "/v1/db/app/entries/x/attachments/f.bin", token: w,
		header: map[string]string{"Range": fmt.Sprintf("bytes=%d-", n+10)}}, 416, api.CodeRangeNotSatisfiable)
	if eb.Message == "" {
		t.Errorf("416 without a message")
	}
	// Entry paths with slashes reach their attachments too.
	e.put(db, "a/b/c", map[string]string{"k": "v"})
	e.must(req{method: "PUT", path: "/v1/db/app/entries/a/b/c/attachments/g", token: w, body: []byte("small")}, 201, nil)
	if _, _, b := e.do(req{method: "GET", path: "/v1/db/app/entries/a/b/c/attachments/g", token: w}); string(b) != "small" {
		t.Errorf("GET a/b/c attachment g = %q", b)
	}
	e.must(req{method: "DELETE", path: "/v1/db/app/entries/x/attachments/f.bin", token: w}, 204, nil)
	e.fails(req{method: "GET", path: "/v1/db/app/entries/x/attachments/f.bin", token: w}, 404, api.CodeNotFound)
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/missing/attachments/f", token: w, body: []byte("x")}, 404, api.CodeNotFound)
}

func TestAttachmentTooLarge(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "v"})
	w := e.token(keyward.RoleWriter)
	big := content(1<<20 + 1) // the env's limit is 1 MiB
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/x/attachments/f", token: w, body: big}, 413, api.CodeTooLarge)
	// Without a Content-Length the limit is found while streaming.
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/x/attachments/f", token: w, body: io.MultiReader(bytes.NewReader(big))}, 413, api.CodeTooLarge)
	as, err := db.Attachments(context.Background(), "x")
	if err != nil || len(as) != 0 {
		t.Errorf("attachments after refused uploads = %v, %v; want none", as, err)
	}
}

// A client that goes away in the middle of an upload leaves nothing.
func TestUploadDisconnectStoresNothing(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "v"})
	w := e.token(keyward.RoleWriter)
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /v1/db/app/entries/x/attachments/partial HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", w, 4*crypt.ChunkSize)
	if _, err := conn.Write(content(2 * crypt.ChunkSize)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// Wait until the handler has seen the early EOF and refused the cut
	// body (closing the server first could drop the connection before the
	// handler ever ran, and then the test would prove nothing).
	want := `keyward_http_requests_total{code="400",method="PUT",route="PUT /v1/db/{db}/entries/{path}/attachments/{name}"} 1`
	seen := false
	for range 500 {
		rec := httptest.NewRecorder()
		e.srv.metrics.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if seen = strings.Contains(rec.Body.String(), want); seen {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !seen {
		t.Fatalf("the handler never refused the cut upload (metrics lack %s)", want)
	}
	e.ts.Close()
	as, err := db.Attachments(context.Background(), "x")
	if err != nil || len(as) != 0 {
		t.Errorf("attachments after a cut upload = %+v, %v; want none", as, err)
	}
}

// A tampered chunk in the middle of a download cuts the connection: the
// client gets the authentic bytes before it and an error, never the bad
// chunk and never a body that looks complete.
func TestTamperedAttachmentAbortsDownload(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "v"})
	data := content(4 * crypt.ChunkSize)
	if _, err := db.PutAttachment(context.Background(), "x", "f", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	flipChunk(t, e, 2)
	r := e.token(keyward.RoleReader)
	hr, _ := http.NewRequest("GET", e.ts.URL+"/v1/db/app/entries/x/attachments/f", nil)
	hr.Header.Set("Authorization", "Bearer "+r)
	resp, err := e.ts.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("download of a tampered attachment: read error %v, want unexpected EOF", err)
	}
	if len(got) > 2*crypt.ChunkSize || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("download of a tampered attachment gave %d bytes, want at most the %d authentic ones before chunk 2", len(got), 2*crypt.ChunkSize)
	}
	var st api.Status
	e.must(req{method: "GET", path: "/v1/sys/status", token: e.admin}, 200, &st)
	if len(st.Integrity) != 1 || st.Integrity[0].Attachment != "f" || st.Integrity[0].Path != "x" {
		t.Errorf("status integrity = %+v, want attachment f of x", st.Integrity)
	}
}

// flipChunk inverts a byte in the middle of chunk idx of the only
// attachment, in its file (store/sqlite keeps chunks in attachments/).
func flipChunk(t *testing.T, e *env, idx int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e.cfg.DataDir, sqlite.AttachmentsDir, "*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("attachment files = %v, %v; want one", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	const sealed = crypt.ChunkSize + crypt.ChunkOverhead
	b[idx*sealed+min(sealed, len(b)-idx*sealed)/2] ^= 0xff
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A tampered entry fails alone with 500 integrity naming its id.
func TestTamperedEntry(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "bad", map[string]string{"k": "v"})
	e.put(db, "good", map[string]string{"k": "fine"})
	raw := e.raw()
	var id string
	var ct []byte
	if err := raw.QueryRow("SELECT id, ciphertext FROM entries WHERE path = 'bad'").Scan(&id, &ct); err != nil {
		t.Fatal(err)
	}
	ct[len(ct)-1] ^= 0xff
	if _, err := raw.Exec("UPDATE entries SET ciphertext = ? WHERE id = ?", ct, id); err != nil {
		t.Fatal(err)
	}
	r := e.token(keyward.RoleReader)
	eb := e.fails(req{method: "GET", path: "/v1/db/app/entries/bad", token: r}, 500, api.CodeIntegrity)
	if eb.EntryID != id || !strings.Contains(eb.Message, id) {
		t.Errorf("integrity error = %+v, want entry id %s", eb, id)
	}
	var en api.Entry
	e.must(req{method: "GET", path: "/v1/db/app/entries/good", token: r}, 200, &en)
	if en.Fields["k"] != "fine" {
		t.Errorf("good entry = %+v", en)
	}
	var l api.EntryList
	e.must(req{method: "GET", path: "/v1/db/app/entries", token: r}, 200, &l)
	if len(l.Entries) != 2 {
		t.Errorf("list with a tampered entry: %d entries, want 2", len(l.Entries))
	}
	var st api.Status
	e.must(req{method: "GET", path: "/v1/sys/status", token: e.admin}, 200, &st)
	if len(st.Integrity) != 1 || st.Integrity[0].EntryID != id || st.Integrity[0].Count != 1 {
		t.Errorf("status integrity = %+v, want entry %s once", st.Integrity, id)
	}
	_, _, b := e.do(req{method: "GET", path: "/metrics", token: r})
	if !strings.Contains(string(b), `keyward_integrity_failures_total{database="app"} 1`) {
		t.Errorf("/metrics does not count the integrity failure")
	}
}
