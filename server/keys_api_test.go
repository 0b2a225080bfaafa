package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/client"
)

// runJobs lets the env's server run jobs in the background until the test
// ends (keyward serve calls ResumeJobs once unlocked).
func (e *env) runJobs() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel) // runs before e.stop (cleanups are last in, first out)
	e.srv.ResumeJobs(ctx)
}

// client is a client of the env's server with the admin token.
func (e *env) client() *client.Client {
	e.t.Helper()
	c, err := client.New(e.ts.URL, client.WithToken(e.admin))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// adminTokenID is the id of the admin token Init made (the only token
// until the test makes others).
func (e *env) adminTokenID() string {
	e.t.Helper()
	ts, err := e.kw.Tokens(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tok := range ts {
		if tok.Role == keyward.RoleAdmin {
			return tok.ID
		}
	}
	e.t.Fatalf("no admin token among %+v", ts)
	return ""
}

// keyStates answers the key versions of database db and their states, as
// GET /v1/sys/status shows them.
func (e *env) keyStates(db string) map[uint32]string {
	e.t.Helper()
	var st api.Status
	e.must(req{method: "GET", path: "/v1/sys/status", token: e.admin}, 200, &st)
	if st.Deployment == nil {
		e.t.Fatalf("status has no deployment for an admin token")
	}
	for _, d := range st.Deployment.Databases {
		if d.Name == db {
			out := map[uint32]string{}
			for _, k := range d.Keys {
				out[k.Version] = k.State
			}
			return out
		}
	}
	e.t.Fatalf("status lists no database %q: %+v", db, st.Deployment.Databases)
	return nil
}

// readsBack checks that every entry of want reads back through the API
// with its field k.
func (e *env) readsBack(db string, want map[string]string) {
	e.t.Helper()
	for path, v := range want {
		var en api.Entry
		e.must(req{method: "GET", path: "/v1/db/" + db + "/entries/" + path, token: e.admin}, 200, &en)
		if en.Fields["k"] != v {
			e.t.Errorf("%s/%s = %+v, want k=%s", db, path, en.Fields, v)
		}
	}
}

// Every key and audit route is refused without a token (401) and for a
// reader or writer token (403), and the refusals change nothing.
func TestKeyAdminRoutesNeedAnAdmin(t *testing.T) {
	e := newEnv(t)
	app := e.mustDB("app")
	e.put(app, "x", map[string]string{"k": "v"})
	file, id := e.export()
	routes := []req{
		{method: "POST", path: "/v1/keys/export", body: api.KeyExportRequest{Recipients: []string{id.Recipient().String()}}},
		{method: "POST", path: "/v1/keys/import", body: api.KeyImportRequest{Bundle: file, Identity: id.String()}},
		{method: "POST", path: "/v1/keys/regenerate", body: api.RegenerateRequest{}},
		{method: "POST", path: "/v1/keys/regenerate", body: api.RegenerateRequest{DryRun: true}},
		{method: "GET", path: "/v1/keys/jobs"},
		{method: "GET", path: "/v1/keys/jobs/j1"},
		{method: "POST", path: "/v1/keys/jobs/j1/pause"},
		{method: "POST", path: "/v1/keys/jobs/j1/resume"},
		{method: "POST", path: "/v1/keys/jobs/j1/cancel"},
		{method: "POST", path: "/v1/keys/app/versions/1/destroy"},
		{method: "POST", path: "/v1/keys/rotate-root", body: api.RotateRootRequest{}},
		{method: "POST", path: "/v1/keys/verify", body: api.VerifyRequest{}},
		{method: "GET", path: "/v1/audit"},
		{method: "POST", path: "/v1/audit/verify", body: api.AuditVerifyRequest{}},
	}
	tokens := []string{e.token(keyward.RoleReader), e.token(keyward.RoleWriter), e.token(keyward.RoleWriter, "app")}
	before, states := e.snapshot(), e.keyStates("app")
	var al0 api.AuditList
	e.must(req{method: "GET", path: "/v1/audit", token: e.admin}, 200, &al0)
	auditBefore := len(al0.Records)
	var jobs api.JobList
	for _, r := range routes {
		r.token = ""
		e.fails(r, 401, api.CodeUnauthorized)
		for _, tok := range tokens {
			r.token = tok
			e.fails(r, 403, api.CodeForbidden)
		}
	}
	if after := e.snapshot(); after != before {
		t.Errorf("refused requests changed the store:\n%s\nwant\n%s", after, before)
	}
	if after := e.keyStates("app"); len(after) != 1 || after[1] != states[1] {
		t.Errorf("refused requests changed the keys: %v, want %v", after, states)
	}
	e.must(req{method: "GET", path: "/v1/keys/jobs", token: e.admin}, 200, &jobs)
	if len(jobs.Jobs) != 0 {
		t.Errorf("refused requests made jobs: %+v", jobs.Jobs)
	}
	// The refused requests did no audited operation.
	var al api.AuditList
	e.must(req{method: "GET", path: "/v1/audit", token: e.admin}, 200, &al)
	if len(al.Records) != auditBefore {
		t.Errorf("refused requests left audit records: %d, want %d: %+v", len(al.Records), auditBefore, al.Records)
	}
}

// The export opens with the test's identity and holds the database's
// keys; importing it back is "same", another deployment's is refused.
func TestKeysExportImportRoundTrip(t *testing.T) {
	e := newEnv(t)
	app := e.mustDB("app")
	e.put(app, "x", map[string]string{"k": "v"})
	ctx := context.Background()
	c := e.client()

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := c.ExportKeys(ctx, api.KeyExportRequest{Recipients: []string{id.Recipient().String()}})
	if err != nil {
		t.Fatalf("client ExportKeys: %v", err)
	}
	if ex.Databases != 1 || ex.Keys != 1 {
		t.Errorf("client ExportKeys counts %d databases, %d keys; want 1 and 1", ex.Databases, ex.Keys)
	}
	b, err := bundle.Read(strings.NewReader(string(ex.File)), []age.Identity{id})
	if err != nil {
		t.Fatalf("bundle.Read(export) = %v", err)
	}
	defer b.Wipe()
	if b.DeploymentID != e.res.DeploymentID || len(b.Databases) != 1 || b.Databases[0].Name != "app" || len(b.Databases[0].Keys) != 1 {
		t.Fatalf("export of %s holds %s %+v", e.res.DeploymentID, b.DeploymentID, b.Databases)
	}
	k, _, err := e.kw.GetDataKey(ctx, "app", 1)
	if err != nil || !k.Equal(b.Databases[0].Keys[0].Key) {
		t.Errorf("exported key of app version 1 differs from the stored one (%v)", err)
	}
	k.Wipe()

	var rep api.KeyImportReport
	e.must(req{method: "POST", path: "/v1/keys/import", token: e.admin,
		body: api.KeyImportRequest{Bundle: string(ex.File), Identity: id.String(), DryRun: true}}, 200, &rep)
	if !rep.DryRun || len(rep.Databases) != 1 || len(rep.Databases[0].Keys) != 1 || rep.Databases[0].Keys[0].Action != api.KeySame {
		t.Errorf("dry run import of the own export = %+v, want one key, the same", rep)
	}

	o := newEnv(t)
	o.mustDB("app")
	ofile, oid := o.export()
	before := e.snapshot()
	ae := e.fails(req{method: "POST", path: "/v1/keys/import", token: e.admin,
		body: api.KeyImportRequest{Bundle: ofile, Identity: oid.String()}}, 409, api.CodeConflict)
	if !strings.Contains(ae.Message, "another deployment") {
		t.Errorf("import of another deployment's export: %q", ae.Message)
	}
	if after := e.snapshot(); after != before {
		t.Errorf("the refused import changed the store:\n%s\nwant\n%s", after, before)
	}
	// The other deployment's key did not land here.
	if got, _, err := e.kw.GetDataKey(ctx, "app", 2); err == nil {
		got.Wipe()
		t.Errorf("app version 2 exists after a refused import")
	}
}

// A regeneration through the API: the dry run counts, the job finishes,
// the entries still read, the new version is primary and the old one
// retired, then destroyable; the primary is not.
func TestRegenerateThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	e.runJobs()
	ctx := context.Background()
	c := e.client()
	app := e.mustDB("app")
	want := map[string]string{"a": "1", "b/c": "2", "d": "3"}
	for p, v := range want {
		e.put(app, p, map[string]string{"k": v})
	}
	if _, err := app.PutAttachment(ctx, "a", "f", strings.NewReader("file")); err != nil {
		t.Fatal(err)
	}
	other := e.mustDB("other")
	e.put(other, "o", map[string]string{"k": "o"})

	dry, err := c.RegenerateDryRun(ctx, []string{"app"})
	if err != nil {
		t.Fatalf("RegenerateDryRun: %v", err)
	}
	if len(dry.Databases) != 1 || dry.Databases[0].Name != "app" || dry.Databases[0].Entries != 3 ||
		dry.Databases[0].Attachments != 1 || len(dry.Databases[0].Versions) != 1 || dry.Databases[0].Versions[0] != 1 {
		t.Fatalf("dry run = %+v, want app: 3 entries, 1 attachment, version 1", dry.Databases)
	}
	if s := e.keyStates("app"); len(s) != 1 || s[1] != "primary" {
		t.Fatalf("the dry run changed the keys: %v", s)
	}

	job, err := c.Regenerate(ctx, api.RegenerateRequest{Databases: []string{"app"}})
	if err != nil {
		t.Fatalf("Regenerate: %v", err)
	}
	if job.ID == "" || len(job.Databases) != 1 || job.Databases[0].Target != 2 {
		t.Fatalf("Regenerate answered %+v, want a job onto app version 2", job)
	}
	// A second regeneration of app while the job runs is a conflict. The
	// job's state only moves forward, so if it is still running after the
	// request, it was running during it.
	code, _, body := e.do(req{method: "POST", path: "/v1/keys/regenerate", token: e.admin, body: api.RegenerateRequest{Databases: []string{"app"}}})
	var cur api.Job
	e.must(req{method: "GET", path: "/v1/keys/jobs/" + job.ID, token: e.admin}, 200, &cur)
	if cur.State == "running" && code != http.StatusConflict {
		t.Errorf("second regeneration while job %s runs = %d %s, want 409", job.ID, code, body)
	}
	// Poll until the job is done, with a bound on the polls: a generous
	// one, since this asserts nothing about speed.
	const maxPolls = 1200
	var polls int
	var j api.Job
	for ; polls < maxPolls; polls++ {
		if polls > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		e.must(req{method: "GET", path: "/v1/keys/jobs/" + job.ID, token: e.admin}, 200, &j)
		if j.State == "done" {
			job = j
			break
		}
		if j.State != "running" {
			t.Fatalf("job %s is %s (%s), want it running then done", j.ID, j.State, j.Error)
		}
	}
	if polls == maxPolls {
		t.Fatalf("job %s not done after %d polls: %+v", job.ID, maxPolls, j)
	}
	if job.Progress.Entries != 3 {
		t.Errorf("done job progress = %+v, want 3 entries", job.Progress)
	}
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != job.ID || jobs[0].State != "done" {
		t.Errorf("Jobs = %+v, %v; want the one job, done", jobs, err)
	}
	e.readsBack("app", want)
	e.readsBack("other", map[string]string{"o": "o"})
	code, _, body = e.do(req{method: "GET", path: "/v1/db/app/entries/a/attachments/f", token: e.admin})
	if code != 200 || string(body) != "file" {
		t.Errorf("attachment after the regeneration = %d %q", code, body)
	}
	if s := e.keyStates("app"); len(s) != 2 || s[2] != "primary" || s[1] != "retired" {
		t.Fatalf("app keys after the regeneration = %v, want 2 primary and 1 retired", s)
	}
	if s := e.keyStates("other"); len(s) != 1 || s[1] != "primary" {
		t.Errorf("other's keys changed: %v", s)
	}

	// Job actions on an unknown job.
	for _, a := range []string{"pause", "resume", "cancel"} {
		e.fails(req{method: "POST", path: "/v1/keys/jobs/nosuchjob/" + a, token: e.admin}, 404, api.CodeNotFound)
		if _, err := c.JobAction(ctx, "nosuchjob", a); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("client JobAction(unknown, %s) = %v, want ErrNotFound", a, err)
		}
	}
	e.fails(req{method: "GET", path: "/v1/keys/jobs/nosuchjob", token: e.admin}, 404, api.CodeNotFound)
	// An action a done job does not allow is a conflict, as documented.
	e.fails(req{method: "POST", path: "/v1/keys/jobs/" + job.ID + "/pause", token: e.admin}, 409, api.CodeConflict)

	// The primary cannot be destroyed; the retired version can, once.
	before := e.snapshot()
	e.fails(req{method: "POST", path: "/v1/keys/app/versions/2/destroy", token: e.admin}, 409, api.CodeConflict)
	e.fails(req{method: "POST", path: "/v1/keys/other/versions/1/destroy", token: e.admin}, 409, api.CodeConflict)
	if err := c.DestroyKey(ctx, "app", 2); !errors.Is(err, client.ErrExists) {
		t.Errorf("client DestroyKey(primary) = %v, want ErrExists (409)", err)
	}
	e.fails(req{method: "POST", path: "/v1/keys/app/versions/0/destroy", token: e.admin}, 400, api.CodeBadRequest)
	e.fails(req{method: "POST", path: "/v1/keys/nope/versions/1/destroy", token: e.admin}, 404, api.CodeNotFound)
	if after := e.snapshot(); after != before {
		t.Errorf("refused destroys changed the store:\n%s\nwant\n%s", after, before)
	}
	if err := c.DestroyKey(ctx, "app", 1); err != nil {
		t.Fatalf("DestroyKey(retired version 1): %v", err)
	}
	if s := e.keyStates("app"); len(s) != 1 || s[2] != "primary" {
		t.Errorf("app keys after destroying version 1 = %v, want 2 primary alone", s)
	}
	e.readsBack("app", want)
	var vr api.VerifyResponse
	e.must(req{method: "POST", path: "/v1/keys/verify", token: e.admin, body: api.VerifyRequest{}}, 200, &vr)
	if vr.Summary.Failures != 0 || vr.Summary.Entries != 4 {
		t.Errorf("verify after the destroy = %+v", vr)
	}
}

// Regenerate refuses to start a job while the server does not run jobs.
func TestRegenerateNeedsTheJobRunner(t *testing.T) {
	e := newEnv(t)
	e.put(e.mustDB("app"), "x", map[string]string{"k": "v"})
	e.fails(req{method: "POST", path: "/v1/keys/regenerate", token: e.admin, body: api.RegenerateRequest{}}, 503, api.CodeSealed)
	if s := e.keyStates("app"); len(s) != 1 || s[1] != "primary" {
		t.Errorf("a refused regeneration changed the keys: %v", s)
	}
}

// A root key rotation through the API keeps the entries readable, and the
// deployment reopens with its auto slot (re-wrapped by the rotation).
func TestRotateRootThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	app := e.mustDB("app")
	want := map[string]string{"x": "1", "y": "2"}
	for p, v := range want {
		e.put(app, p, map[string]string{"k": v})
	}
	e.readsBack("app", want) // the data key is now cached
	// Without the recovery key the recovery slot cannot wrap the new root
	// key: refused, nothing changed.
	before := e.snapshot()
	ae := e.fails(req{method: "POST", path: "/v1/keys/rotate-root", token: e.admin, body: api.RotateRootRequest{}}, 409, api.CodeConflict)
	if !strings.Contains(ae.Message, "recovery") {
		t.Errorf("rotate-root without the recovery key: %q", ae.Message)
	}
	if after := e.snapshot(); after != before {
		t.Errorf("the refused rotation changed the store")
	}
	sum, err := e.client().RotateRoot(context.Background(), api.RotateRootRequest{RecoveryKey: e.res.RecoveryKey})
	if err != nil {
		t.Fatalf("RotateRoot: %v", err)
	}
	if sum.DataKeys != 1 || len(sum.Slots) == 0 || len(sum.Dropped) != 0 {
		t.Errorf("rotate summary = %+v, want 1 data key and the slots re-wrapped", sum)
	}
	e.readsBack("app", want)
	e.put(app, "z", map[string]string{"k": "3"})
	want["z"] = "3"

	e.restart()
	if e.kw.Sealed() {
		t.Fatalf("the deployment is sealed after the rotation and a reopen: the auto slot was not re-wrapped")
	}
	var st api.Status
	e.must(req{method: "GET", path: "/v1/sys/status"}, 200, &st)
	if st.Sealed {
		t.Fatalf("the reopened server reports sealed")
	}
	e.readsBack("app", want)
	var vr api.VerifyResponse
	e.must(req{method: "POST", path: "/v1/keys/verify", token: e.admin, body: api.VerifyRequest{}}, 200, &vr)
	if vr.Summary.Failures != 0 || vr.Summary.Entries != 3 || vr.Summary.DataKeys != 1 {
		t.Errorf("verify after the rotation = %+v", vr)
	}
}

// Verify finds nothing on a clean deployment and names a tampered entry.
func TestVerifyThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	app := e.mustDB("app")
	e.put(app, "bad", map[string]string{"k": "v"})
	e.put(app, "good", map[string]string{"k": "fine"})
	e.put(e.mustDB("other"), "o", map[string]string{"k": "o"})

	var vr api.VerifyResponse
	e.must(req{method: "POST", path: "/v1/keys/verify", token: e.admin, body: api.VerifyRequest{}}, 200, &vr)
	if vr.Summary.Failures != 0 || len(vr.Failures) != 0 || vr.Summary.Entries != 3 || vr.Summary.Databases != 2 || vr.Summary.DataKeys != 2 {
		t.Fatalf("verify of a clean deployment = %+v", vr)
	}

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

	vr = api.VerifyResponse{}
	e.must(req{method: "POST", path: "/v1/keys/verify", token: e.admin, body: api.VerifyRequest{}}, 200, &vr)
	if vr.Summary.Failures != 1 || len(vr.Failures) != 1 {
		t.Fatalf("verify after tampering = %+v, want one failure", vr)
	}
	if f := vr.Failures[0]; f.ID != id || f.Kind != api.VerifyEntry || f.Database != "app" || f.Path != "bad" || f.KeyVersion != 1 {
		t.Errorf("failure = %+v, want entry %s (app/bad, version 1)", f, id)
	}
	// Only the other database: clean.
	got, err := e.client().Verify(context.Background(), api.VerifyRequest{Databases: []string{"other"}})
	if err != nil || got.Summary.Failures != 0 || got.Summary.Entries != 1 || got.Summary.Databases != 1 {
		t.Errorf("client Verify(other) = %+v, %v", got, err)
	}
	e.fails(req{method: "POST", path: "/v1/keys/verify", token: e.admin, body: api.VerifyRequest{Databases: []string{"nope"}}}, 404, api.CodeNotFound)
}

// The audit log shows what an admin token did through the API and its
// chain verifies.
func TestAuditThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	adminID := e.adminTokenID()
	e.must(req{method: "POST", path: "/v1/db", token: e.admin, body: api.CreateDatabase{Name: "audited"}}, 201, nil)
	e.export()
	var vr api.VerifyResponse
	e.must(req{method: "POST", path: "/v1/keys/verify", token: e.admin, body: api.VerifyRequest{}}, 200, &vr)

	var al api.AuditList
	e.must(req{method: "GET", path: "/v1/audit", token: e.admin}, 200, &al)
	ops := map[string]bool{}
	for i, rec := range al.Records {
		if i > 0 && rec.Seq <= al.Records[i-1].Seq {
			t.Errorf("audit records out of order: %d after %d", rec.Seq, al.Records[i-1].Seq)
		}
		if rec.Actor == "token:"+adminID {
			ops[rec.Op] = true
			if rec.Result != "ok" {
				t.Errorf("record %+v: result %q, want ok", rec, rec.Result)
			}
		}
	}
	if len(ops) == 0 {
		t.Fatalf("no audit record has actor token:%s: %+v", adminID, al.Records)
	}
	for _, op := range []string{"keys.export", "keys.verify"} {
		if !ops[op] {
			t.Errorf("no %s record by token:%s (ops by it: %v)", op, adminID, ops)
		}
	}
	// Paging: after the first record, one at a time.
	var page api.AuditList
	e.must(req{method: "GET", path: "/v1/audit?limit=1&after=" + itoa(al.Records[0].Seq), token: e.admin}, 200, &page)
	if len(al.Records) > 1 && (len(page.Records) != 1 || page.Records[0].Seq != al.Records[1].Seq || page.Next != page.Records[0].Seq) {
		t.Errorf("page after %d = %+v, want record %d", al.Records[0].Seq, page, al.Records[1].Seq)
	}
	e.fails(req{method: "GET", path: "/v1/audit?limit=0", token: e.admin}, 400, api.CodeBadRequest)

	var av api.AuditVerification
	e.must(req{method: "POST", path: "/v1/audit/verify", token: e.admin, body: api.AuditVerifyRequest{}}, 200, &av)
	last := al.Records[len(al.Records)-1]
	if !av.OK || len(av.Problems) != 0 || av.Records < int64(len(al.Records)) {
		t.Fatalf("audit verify = %+v, want ok over at least %d records", av, len(al.Records))
	}
	// The head verified earlier anchors a later verification.
	cv, err := e.client().VerifyAudit(context.Background(), av.Head)
	if err != nil || !cv.OK {
		t.Errorf("client VerifyAudit(anchor %s) = %+v, %v", av.Head, cv, err)
	}
	// A forged anchor does not verify.
	code, _, b := e.do(req{method: "POST", path: "/v1/audit/verify", token: e.admin,
		body: api.AuditVerifyRequest{Anchor: itoa(last.Seq) + ":" + strings.Repeat("00", 32)}})
	var bad api.AuditVerification
	if code != http.StatusOK || json.Unmarshal(b, &bad) != nil || bad.OK {
		t.Errorf("audit verify with a forged anchor = %d %s, want 200 and not ok", code, b)
	}
}
