package e2e

import (
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/serverlock"
)

// TestServeInitPutGetRestart is the README's first minutes: serve on an
// empty data dir (it initialises), put, get, stop, start again, get.
func TestServeInitPutGetRestart(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	admin := s.adminToken()
	out := s.output()
	if !strings.Contains(out, "KEYWARD_ADDR") {
		t.Errorf("the first start does not tell how to reach the server with the CLI (KEYWARD_ADDR):\n%s", out)
	}
	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "app"}, nil)
	var put api.Entry
	s.must(201, "PUT", "/v1/db/app/entries/prod/db", admin,
		api.PutEntry{Fields: map[string]string{"user": "svc", "password": "s3cret-e2e"}, Type: "login", Tags: []string{"prod"}}, &put)
	if put.Revision != 1 || put.Fields != nil && put.Fields["password"] != "s3cret-e2e" {
		t.Fatalf("PUT answered %+v", put)
	}
	s.stop()
	if strings.Contains(s.output(), "s3cret-e2e") {
		t.Fatalf("the server log shows a field value:\n%s", s.output())
	}

	s = e.serve()
	if tokenRE.MatchString(s.output()) {
		t.Errorf("a restart printed a token again:\n%s", s.output())
	}
	var got api.Entry
	s.must(200, "GET", "/v1/db/app/entries/prod/db", admin, nil, &got)
	if got.Fields["password"] != "s3cret-e2e" || got.Type != "login" || got.Revision != 1 {
		t.Fatalf("GET after restart = %+v", got)
	}
	var h api.Health
	s.must(200, "GET", "/v1/sys/health", "", nil, &h)
	if h.Status != "ok" || h.Sealed {
		t.Errorf("health = %+v, want ok", h)
	}
	s.stop()
}

// fileSums hashes every file of the data dir, to prove nothing was written.
// SQLite's shared-memory index (-shm) changes on every read and is skipped,
// and so is the server lock, which records the running server's pid; an
// empty write-ahead log counts as none.
func fileSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "-shm") || d.Name() == serverlock.FileName {
			return err
		}
		b, err := os.ReadFile(p)
		if strings.HasSuffix(p, "-wal") && len(b) == 0 {
			return err
		}
		sums[p] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func changed(a, b map[string][32]byte) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, filepath.Base(k))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "new "+filepath.Base(k))
		}
	}
	return out
}

func sameSums(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSealedStartAndUnlock: a passphrase slot whose variable is unset at
// start leaves the server sealed: it answers health and status, refuses
// data with 503, writes nothing, and opens with the passphrase or the
// recovery key given to /v1/sys/unlock.
func TestSealedStartAndUnlock(t *testing.T) {
	e := newEnv(t)
	e.vars["KW_E2E_PASS"] = "correct horse battery"
	stdout, stderr, code := e.run("init", "--master-key", "env:KW_E2E_PASS")
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, stdout, stderr)
	}
	admin := tokenRE.FindString(stdout + stderr)
	if admin == "" {
		t.Fatalf("init printed no admin token:\n%s%s", stdout, stderr)
	}
	s := e.serve()
	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "app"}, nil)
	s.must(201, "PUT", "/v1/db/app/entries/a", admin, api.PutEntry{Fields: map[string]string{"k": "v"}}, nil)
	s.stop()

	delete(e.vars, "KW_E2E_PASS")
	before := fileSums(t, e.data)
	s = e.serve()
	var h api.Health
	if code, _, _ := s.call("GET", "/v1/sys/health", "", nil, &h); code != http.StatusServiceUnavailable || h.Status != "sealed" {
		t.Fatalf("health while sealed: %d %+v, want 503 sealed", code, h)
	}
	var st api.Status
	s.must(200, "GET", "/v1/sys/status", "", nil, &st)
	if !st.Sealed || st.Deployment != nil {
		t.Errorf("status while sealed without a token = %+v, want sealed and no deployment detail", st)
	}
	if er := s.must(503, "GET", "/v1/db/app/entries/a", admin, nil, nil); er.Code != api.CodeSealed {
		t.Errorf("GET while sealed: code %q, want sealed", er.Code)
	}
	s.must(503, "PUT", "/v1/db/app/entries/b", admin, api.PutEntry{Fields: map[string]string{"k": "v"}}, nil)
	s.must(503, "POST", "/v1/tokens", admin, api.CreateToken{Role: api.RoleReader}, nil)
	if !strings.Contains(s.output(), "KW_E2E_PASS") {
		t.Errorf("the log does not say why the passphrase slot failed (KW_E2E_PASS unset):\n%s", s.output())
	}
	s.must(401, "POST", "/v1/sys/unlock", "", api.UnlockRequest{Passphrase: "correct horse battery"}, nil) // no token
	er := s.must(401, "POST", "/v1/sys/unlock", admin, api.UnlockRequest{Passphrase: "wrong horse"}, nil)
	if er.Code != api.CodeUnlockFailed || strings.Contains(er.Message, "wrong horse") {
		t.Errorf("unlock with a wrong passphrase: %+v", er)
	}
	s.must(400, "POST", "/v1/sys/unlock", admin, []byte(`{"passphrase": `), nil)
	if after := fileSums(t, e.data); !sameSums(before, after) {
		t.Fatalf("the sealed server changed files in the data dir: %v", changed(before, after))
	}
	var ur api.UnlockResponse
	s.must(200, "POST", "/v1/sys/unlock", admin, api.UnlockRequest{Passphrase: "correct horse battery"}, &ur)
	if ur.Sealed {
		t.Errorf("unlock answered %+v", ur)
	}
	var got api.Entry
	s.must(200, "GET", "/v1/db/app/entries/a", admin, nil, &got)
	if got.Fields["k"] != "v" {
		t.Errorf("GET after unlock = %+v", got)
	}
	s.must(200, "GET", "/v1/sys/health", "", nil, nil)
	s.stop()
}

// TestMaintenance: data requests get 503 with Retry-After and the reason;
// admin requests go on; the switch survives a restart.
func TestMaintenance(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	admin := s.adminToken()
	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "app"}, nil)
	s.must(201, "PUT", "/v1/db/app/entries/a", admin, api.PutEntry{Fields: map[string]string{"k": "v"}}, nil)
	s.must(200, "POST", "/v1/sys/maintenance", admin, api.MaintenanceRequest{Enabled: true, Reason: "disk swap"}, nil)
	check := func(s *server) {
		t.Helper()
		code, er, hdr := s.call("GET", "/v1/db/app/entries/a", admin, nil, nil)
		if code != 503 || er.Code != api.CodeMaintenance || !strings.Contains(er.Message, "disk swap") || hdr.Get("Retry-After") == "" {
			t.Fatalf("GET in maintenance: %d %+v Retry-After %q; want 503 maintenance with the reason and Retry-After", code, er, hdr.Get("Retry-After"))
		}
		var h api.Health
		if code, _, _ := s.call("GET", "/v1/sys/health", "", nil, &h); code != 503 {
			t.Errorf("health in maintenance: %d, want 503", code)
		}
		s.must(200, "GET", "/v1/tokens", admin, nil, nil)
	}
	check(s)
	s.stop()
	s = e.serve()
	check(s)
	s.must(200, "POST", "/v1/sys/maintenance", admin, api.MaintenanceRequest{Enabled: false}, nil)
	s.must(200, "GET", "/v1/db/app/entries/a", admin, nil, nil)
	s.stop()
}

// TestAuthorization: every request without a valid token for what it asks
// gets 401 or 403 and changes nothing.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	admin := s.adminToken()
	for _, db := range []string{"app", "other"} {
		s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: db}, nil)
		s.must(201, "PUT", "/v1/db/"+db+"/entries/a", admin, api.PutEntry{Fields: map[string]string{"k": "v1"}}, nil)
	}
	token := func(role string, dbs ...string) string {
		var tc api.TokenCreated
		s.must(201, "POST", "/v1/tokens", admin, api.CreateToken{Role: role, Databases: dbs}, &tc)
		return tc.Secret
	}
	reader, writerApp := token(api.RoleReader), token(api.RoleWriter, "app")
	var revoked api.TokenCreated
	s.must(201, "POST", "/v1/tokens", admin, api.CreateToken{Role: api.RoleWriter}, &revoked)
	s.must(204, "DELETE", "/v1/tokens/"+revoked.Token.ID, admin, nil, nil)

	put := api.PutEntry{Fields: map[string]string{"k": "changed"}}
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"no token", "PUT", "/v1/db/app/entries/a", "", put, 401},
		{"garbage token", "PUT", "/v1/db/app/entries/a", "kw_nonsense", put, 401},
		{"altered admin token", "PUT", "/v1/db/app/entries/a", admin[:len(admin)-1] + "x", put, 401},
		{"revoked token", "PUT", "/v1/db/app/entries/a", revoked.Secret, put, 401},
		{"reader writes", "PUT", "/v1/db/app/entries/a", reader, put, 403},
		{"reader deletes", "DELETE", "/v1/db/app/entries/a", reader, nil, 403},
		{"scoped writer, other db", "PUT", "/v1/db/other/entries/a", writerApp, put, 403},
		{"scoped writer reads other db", "GET", "/v1/db/other/entries/a", writerApp, nil, 403},
		{"writer makes tokens", "POST", "/v1/tokens", writerApp, api.CreateToken{Role: api.RoleAdmin}, 403},
		{"reader maintenance", "POST", "/v1/sys/maintenance", reader, api.MaintenanceRequest{Enabled: true}, 403},
		{"no token lists dbs", "GET", "/v1/db", "", nil, 401},
	} {
		code, er, _ := s.call(c.method, c.path, c.token, c.body, nil)
		if code != c.want || (c.want == 401 && er.Code != api.CodeUnauthorized) || (c.want == 403 && er.Code != api.CodeForbidden) {
			t.Errorf("%s: %d %q, want %d", c.name, code, er.Code, c.want)
		}
	}
	for _, db := range []string{"app", "other"} {
		var got api.Entry
		s.must(200, "GET", "/v1/db/"+db+"/entries/a", admin, nil, &got)
		if got.Revision != 1 || got.Fields["k"] != "v1" {
			t.Errorf("%s/a after refused requests = %+v, want unchanged", db, got)
		}
	}
	var list api.TokenList
	s.must(200, "GET", "/v1/tokens", admin, nil, &list)
	if len(list.Tokens) != 3 { // the first admin, reader, writerApp
		t.Errorf("%d tokens after refused requests, want 3", len(list.Tokens))
	}
	var dbs api.DatabaseList
	s.must(200, "GET", "/v1/db", writerApp, nil, &dbs)
	if len(dbs.Databases) != 1 || dbs.Databases[0].Name != "app" {
		t.Errorf("a token scoped to app lists %+v", dbs.Databases)
	}
	s.must(200, "PUT", "/v1/db/app/entries/a", writerApp, put, nil)
	s.stop()
}
