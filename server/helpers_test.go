package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // driver "sqlite", to tamper with the store behind keyward's back

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/masterkey"
)

// env is a real deployment in a temp dir served by httptest.
type env struct {
	t     *testing.T
	cfg   keyward.Config
	vars  map[string]string
	res   keyward.InitResult
	kw    *keyward.Keyward
	srv   *Server
	ts    *httptest.Server
	admin string
}

// testPassphrase is what the env:KW_PASS slot of newEnvSlots unlocks with.
const testPassphrase = "correct horse battery staple"

// newEnv initialises a deployment with an auto slot and serves it.
func newEnv(t *testing.T) *env { return newEnvSlots(t, "auto") }

// newEnvSlots initialises a deployment with the given slots (and the
// recovery slot), opens it as `keyward serve` does and serves it.
func newEnvSlots(t *testing.T, slots ...string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, vars: map[string]string{"KW_PASS": testPassphrase}}
	e.cfg = keyward.Config{
		DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys"), MasterKeys: slots,
		Getenv: func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok },
		KDF:    &masterkey.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
	}
	res, err := keyward.Init(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.res, e.admin = res, res.AdminToken
	e.start()
	return e
}

// start opens the deployment (sealed if no slot unlocks) and serves it.
func (e *env) start() {
	e.t.Helper()
	ctx := context.Background()
	kw, err := keyward.OpenSealed(ctx, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = kw.Unlock(ctx) // a sealed server still starts
	srv, err := New(Config{Keyward: kw, Version: "test", MaxBodyBytes: 4096, MaxAttachmentBytes: 1 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	e.kw, e.srv, e.ts = kw, srv, httptest.NewServer(srv.Handler())
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.ts != nil {
		e.ts.Close()
		e.kw.Close()
		e.ts = nil
	}
}

// restart closes the server and the deployment and opens them again.
func (e *env) restart() {
	e.stop()
	e.start()
}

// token creates a token through the library and returns its secret.
func (e *env) token(role keyward.Role, dbs ...string) string {
	e.t.Helper()
	secret, _, err := e.kw.CreateToken(context.Background(), keyward.TokenSpec{Role: role, Databases: dbs})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// req is one request of a test.
type req struct {
	method, path, token string
	body                any // JSON-encoded unless []byte or io.Reader
	header              map[string]string
}

// do sends r and returns the status, the headers and the body.
func (e *env) do(r req) (int, http.Header, []byte) {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(r.method, e.ts.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", r.method, r.path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// must sends r, checks the status and decodes the body into out (if not nil).
func (e *env) must(r req, want int, out any) http.Header {
	e.t.Helper()
	code, h, b := e.do(r)
	if code != want {
		e.t.Fatalf("%s %s = %d %s, want %d", r.method, r.path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", r.method, r.path, err, b)
		}
	}
	return h
}

// fails sends r and checks the status and the error code of the answer.
func (e *env) fails(r req, status int, code string) api.Error {
	e.t.Helper()
	got, h, b := e.do(r)
	var eb api.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		e.t.Fatalf("%s %s = %d, body is not an api.ErrorBody: %v: %s", r.method, r.path, got, err, b)
	}
	if got != status || eb.Error.Code != code {
		e.t.Fatalf("%s %s = %d %q (%s), want %d %q", r.method, r.path, got, eb.Error.Code, eb.Error.Message, status, code)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: error Content-Type = %q, want application/json", r.method, r.path, ct)
	}
	return eb.Error
}

// mustDB creates a database through the library.
func (e *env) mustDB(name string) *keyward.Database {
	e.t.Helper()
	db, err := e.kw.CreateDatabase(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}

// put stores an entry through the library.
func (e *env) put(db *keyward.Database, path string, fields map[string]string) keyward.Entry {
	e.t.Helper()
	en, err := db.Put(context.Background(), keyward.Entry{Path: path, Fields: fields})
	if err != nil {
		e.t.Fatal(err)
	}
	return en
}

// raw opens the store's SQLite file as an attacker with file access would.
func (e *env) raw() *sql.DB {
	e.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.cfg.DataDir, keyward.DBFile)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// snapshot is what a refused request must not change.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	ctx := context.Background()
	dbs, err := e.kw.Databases(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range dbs {
		db, err := e.kw.Database(ctx, d.Name)
		if err != nil {
			e.t.Fatal(err)
		}
		es, err := db.List(ctx, "")
		if err != nil {
			e.t.Fatal(err)
		}
		for _, en := range es {
			as, _ := db.Attachments(ctx, en.Path)
			b.WriteString(d.Name + "/" + en.Path + " r" + itoa(en.Revision) + " a" + itoa(int64(len(as))) + "\n")
		}
	}
	ts, err := e.kw.Tokens(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	b.WriteString("tokens " + itoa(int64(len(ts))) + "\n")
	m, _ := e.kw.Maintenance(ctx)
	if m.Enabled {
		b.WriteString("maintenance\n")
	}
	return b.String()
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
