package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/server"
)

// bodies remembers the request bodies a handler saw.
type bodies struct {
	h  http.Handler
	mu sync.Mutex
	b  [][]byte
}

func (s *bodies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.b = append(s.b, b)
	s.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	s.h.ServeHTTP(w, r)
}

// realServer serves a real deployment with one database and returns a
// client with its admin token.
func realServer(t *testing.T) (*client.Client, *bodies) {
	t.Helper()
	ctx := context.Background()
	kw, _, res := kwtest.Deployment(t, keyward.Config{})
	if _, err := kw.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Keyward: kw})
	if err != nil {
		t.Fatal(err)
	}
	rec := &bodies{h: srv.Handler()}
	ts := httptest.NewServer(rec)
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, client.WithToken(res.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func TestExportAndImportBundle(t *testing.T) {
	c, rec := realServer(t)
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	exp, err := c.ExportKeys(ctx, api.KeyExportRequest{Recipients: []string{id.Recipient().String()}})
	if err != nil || exp.Databases != 1 || exp.Keys != 1 {
		t.Fatalf("ExportKeys() = %d databases, %d keys, %v", exp.Databases, exp.Keys, err)
	}
	b, err := bundle.Read(bytes.NewReader(exp.File), []age.Identity{id})
	if err != nil {
		t.Fatalf("bundle.Read(export) = %v", err)
	}
	defer b.Wipe()

	rep, err := c.ImportBundle(ctx, b, false, true)
	if err != nil || !rep.DryRun || rep.Count(api.KeySame) != 1 {
		t.Fatalf("ImportBundle(dry run) = %+v, %v", rep, err)
	}
	last := rec.b[len(rec.b)-1]
	if bytes.Contains(last, []byte(id.String())) || !bytes.Contains(last, []byte(`"identity":"AGE-SECRET-KEY-1`)) {
		t.Errorf("ImportBundle sent the caller's identity, or no one-time identity")
	}
	if _, err := c.ExportKeys(ctx, api.KeyExportRequest{Databases: []string{"nope"}, Recipients: []string{id.Recipient().String()}}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("ExportKeys(unknown database) = %v, want ErrNotFound", err)
	}
	_, err = c.ImportKeys(ctx, api.KeyImportRequest{Bundle: string(exp.File), Passphrase: "x"})
	if !errors.Is(err, client.ErrInvalid) || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("ImportKeys(wrong passphrase) = %v, want ErrInvalid", err)
	}
}
