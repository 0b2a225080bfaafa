package server

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/secret"
)

// export asks the server for an export to a new identity and returns the
// armored file and the identity.
func (e *env) export(dbs ...string) (string, *age.X25519Identity) {
	e.t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		e.t.Fatal(err)
	}
	code, h, b := e.do(req{method: "POST", path: "/v1/keys/export", token: e.admin,
		body: api.KeyExportRequest{Databases: dbs, Recipients: []string{id.Recipient().String()}}})
	if code != 200 || h.Get("Content-Type") != "text/plain; charset=us-ascii" {
		e.t.Fatalf("POST /v1/keys/export = %d %s (%s)", code, b, h.Get("Content-Type"))
	}
	return string(b), id
}

func TestKeysExport(t *testing.T) {
	e := newEnv(t)
	app := e.mustDB("app")
	e.mustDB("other")
	e.put(app, "x", map[string]string{"k": "v"})
	file, id := e.export("app")
	if !strings.HasPrefix(file, "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("export is not armored: %.40q", file)
	}
	b, err := bundle.Read(strings.NewReader(file), []age.Identity{id})
	if err != nil {
		t.Fatalf("bundle.Read(export) = %v", err)
	}
	defer b.Wipe()
	if b.DeploymentID != e.kw.DeploymentID() || len(b.Databases) != 1 || b.Databases[0].Name != "app" || len(b.Databases[0].Keys) != 1 {
		t.Fatalf("export holds %+v", b.Databases)
	}
	k, _, err := e.kw.GetDataKey(context.Background(), "app", 1)
	if err != nil || !k.Equal(b.Databases[0].Keys[0].Key) {
		t.Errorf("exported key differs from the stored one (%v)", err)
	}
	k.Wipe()

	id2, _ := age.GenerateX25519Identity()
	h := e.must(req{method: "POST", path: "/v1/keys/export", token: e.admin,
		body: api.KeyExportRequest{Recipients: []string{id.Recipient().String(), id2.Recipient().String()}}}, 200, nil)
	if h.Get(api.HeaderExportDatabases) != "2" || h.Get(api.HeaderExportKeys) != "2" {
		t.Errorf("export of everything: headers %s=%q %s=%q, want 2 and 2", api.HeaderExportDatabases,
			h.Get(api.HeaderExportDatabases), api.HeaderExportKeys, h.Get(api.HeaderExportKeys))
	}

	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{api.KeyExportRequest{}, 400, api.CodeBadRequest},
		{map[string]any{"recipients": []string{id.Recipient().String()}, "passphrase": "x"}, 400, api.CodeBadRequest},
		{api.KeyExportRequest{Recipients: []string{id.String()}}, 400, api.CodeBadRequest}, // a secret key
		{api.KeyExportRequest{Recipients: []string{id.Recipient().String() + "\n" + id2.Recipient().String()}}, 400, api.CodeBadRequest},
		{api.KeyExportRequest{Databases: []string{"nope"}, Recipients: []string{id.Recipient().String()}}, 404, api.CodeNotFound},
	} {
		ae := e.fails(req{method: "POST", path: "/v1/keys/export", token: e.admin, body: c.body}, c.status, c.code)
		if strings.Contains(ae.Message, "AGE-SECRET-KEY") {
			t.Errorf("an error echoes a secret key: %s", ae.Message)
		}
	}
}

func TestKeysRoutesNeedAnAdmin(t *testing.T) {
	e := newEnv(t)
	e.mustDB("app")
	file, id := e.export()
	routes := []req{
		{method: "POST", path: "/v1/keys/export", body: api.KeyExportRequest{Recipients: []string{id.Recipient().String()}}},
		{method: "POST", path: "/v1/keys/import", body: api.KeyImportRequest{Bundle: file, Identity: id.String(), DryRun: true}},
	}
	for _, r := range routes {
		e.fails(r, 401, api.CodeUnauthorized)
		for _, tok := range []string{e.token(keyward.RoleWriter), e.token(keyward.RoleReader), e.token(keyward.RoleWriter, "app")} {
			r.token = tok
			e.fails(r, 403, api.CodeForbidden)
		}
	}
}

func TestKeysImport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	app := e.mustDB("app")
	e.put(app, "x", map[string]string{"k": "v"})
	file, id := e.export()
	imp := func(r api.KeyImportRequest) req {
		return req{method: "POST", path: "/v1/keys/import", token: e.admin, body: r}
	}

	var rep api.KeyImportReport
	e.must(imp(api.KeyImportRequest{Bundle: file, Identity: "# a comment\n" + id.String() + "\n"}), 200, &rep)
	if rep.DeploymentID != e.kw.DeploymentID() || rep.DryRun || rep.Count(api.KeySame) != 1 || len(rep.Databases) != 1 {
		t.Errorf("import of the own export = %+v, want app version 1 the same", rep)
	}

	// A passphrase export.
	b, err := bundle.Read(strings.NewReader(file), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Wipe()
	sr, _ := age.NewScryptRecipient("open sesame")
	sr.SetWorkFactor(10)
	var pass bytes.Buffer
	if err := bundle.Write(&pass, b, []age.Recipient{sr}, true); err != nil {
		t.Fatal(err)
	}
	e.must(imp(api.KeyImportRequest{Bundle: pass.String(), Passphrase: "open sesame", DryRun: true}), 200, &rep)
	if !rep.DryRun || rep.Count(api.KeySame) != 1 {
		t.Errorf("dry run of a passphrase export = %+v", rep)
	}

	// Refusals change nothing.
	var binary bytes.Buffer
	if err := bundle.Write(&binary, b, []age.Recipient{id.Recipient()}, false); err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	before := e.snapshot()
	for _, c := range []struct {
		r      api.KeyImportRequest
		status int
		code   string
		msg    string
	}{
		{api.KeyImportRequest{Bundle: file}, 400, api.CodeBadRequest, "exactly one of identity and passphrase"},
		{api.KeyImportRequest{Bundle: file, Identity: id.String(), Passphrase: "x"}, 400, api.CodeBadRequest, "exactly one"},
		{api.KeyImportRequest{Bundle: file, Identity: "not an identity"}, 400, api.CodeBadRequest, "identity"},
		{api.KeyImportRequest{Bundle: file, Identity: other.String()}, 400, api.CodeBadRequest, "does not open this export"},
		{api.KeyImportRequest{Bundle: pass.String(), Passphrase: "wrong"}, 400, api.CodeBadRequest, "does not open this export"},
		{api.KeyImportRequest{Bundle: file[:len(file)/2] + "\n-----END AGE ENCRYPTED FILE-----\n", Identity: id.String()}, 400, api.CodeBadRequest, "truncated"},
		{api.KeyImportRequest{Bundle: binary.String(), Identity: id.String()}, 400, api.CodeBadRequest, "ASCII-armored"},
	} {
		ae := e.fails(imp(c.r), c.status, c.code)
		if !strings.Contains(ae.Message, c.msg) {
			t.Errorf("import refusal %q, want it to say %q", ae.Message, c.msg)
		}
	}

	// Another deployment's export.
	o := newEnv(t)
	o.mustDB("app")
	ofile, oid := o.export()
	ae := e.fails(imp(api.KeyImportRequest{Bundle: ofile, Identity: oid.String()}), 409, api.CodeConflict)
	if !strings.Contains(ae.Message, "another deployment") {
		t.Errorf("import of another deployment's export: %q", ae.Message)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused imports changed the store:\n%s\nwant\n%s", after, before)
	}

	// A conflict: version 1's stored key was replaced behind the server.
	e.must(req{method: "GET", path: "/v1/db/app/entries/x", token: e.admin}, 200, nil) // caches the DEK
	if _, err := e.kw.PutDataKey(ctx, "app", secret.Random(32), 1, true); err != nil {
		t.Fatal(err)
	}
	e.fails(req{method: "GET", path: "/v1/db/app/entries/x", token: e.admin}, 500, api.CodeIntegrity)
	ae = e.fails(imp(api.KeyImportRequest{Bundle: file, Identity: id.String()}), 409, api.CodeConflict)
	if !strings.Contains(ae.Message, "app version 1") || !strings.Contains(ae.Message, "--overwrite") {
		t.Errorf("conflict message %q", ae.Message)
	}
	e.must(imp(api.KeyImportRequest{Bundle: file, Identity: id.String(), DryRun: true}), 200, &rep)
	if k := rep.Databases[0].Keys[0]; k.Action != api.KeyConflict || k.Entries != 1 || k.SampleOpens != api.SampleExported {
		t.Errorf("dry run of a conflict = %+v", k)
	}
	e.must(imp(api.KeyImportRequest{Bundle: file, Identity: id.String(), Overwrite: true}), 200, &rep)
	if rep.Count(api.KeyReplace) != 1 {
		t.Errorf("import with overwrite = %+v", rep)
	}
	var en api.Entry
	e.must(req{method: "GET", path: "/v1/db/app/entries/x", token: e.admin}, 200, &en)
	if en.Fields["k"] != "v" {
		t.Errorf("entry after the key was put back = %+v", en)
	}
}

func TestKeysSealed(t *testing.T) {
	e := newEnvSlots(t, "env:KW_PASS")
	e.mustDB("app")
	file, id := e.export()
	delete(e.vars, "KW_PASS")
	e.restart()
	e.fails(req{method: "POST", path: "/v1/keys/export", token: e.admin,
		body: api.KeyExportRequest{Recipients: []string{id.Recipient().String()}}}, 503, api.CodeSealed)
	e.fails(req{method: "POST", path: "/v1/keys/import", token: e.admin,
		body: api.KeyImportRequest{Bundle: file, Identity: id.String()}}, 503, api.CodeSealed)
}
