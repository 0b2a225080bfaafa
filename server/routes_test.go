package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func TestHealthAndStatus(t *testing.T) {
	e := newEnv(t)
	var h api.Health
	e.must(req{method: "GET", path: "/v1/sys/health"}, 200, &h)
	if h.Status != "ok" || h.Sealed || h.Maintenance {
		t.Errorf("health = %+v, want ok", h)
	}
	var st api.Status
	e.must(req{method: "GET", path: "/v1/sys/status"}, 200, &st)
	if st.Version != "test" || st.Sealed || st.Deployment != nil {
		t.Errorf("status without a token = %+v, want version test, unsealed, no deployment", st)
	}
	e.must(req{method: "GET", path: "/v1/sys/status", token: e.token(keyward.RoleWriter)}, 200, &st)
	if st.Deployment != nil {
		t.Errorf("status for a writer has the deployment")
	}
	e.must(req{method: "GET", path: "/v1/sys/status", token: e.admin}, 200, &st)
	if st.Deployment == nil || st.Deployment.DeploymentID != e.res.DeploymentID {
		t.Errorf("status for an admin = %+v, want deployment %s", st.Deployment, e.res.DeploymentID)
	}
	e.fails(req{method: "GET", path: "/v1/sys/status", token: "kw_wrong"}, 401, api.CodeUnauthorized)
}

func TestDatabasesAndEntries(t *testing.T) {
	e := newEnv(t)
	w := e.token(keyward.RoleWriter)
	var db api.Database
	e.must(req{method: "POST", path: "/v1/db", token: w, body: api.CreateDatabase{Name: "app"}}, 201, &db)
	if db.Name != "app" || db.Created.IsZero() {
		t.Errorf("POST /v1/db = %+v", db)
	}
	e.fails(req{method: "POST", path: "/v1/db", token: w, body: api.CreateDatabase{Name: "app"}}, 409, api.CodeConflict)
	e.fails(req{method: "POST", path: "/v1/db", token: w, body: api.CreateDatabase{Name: "no/slash"}}, 400, api.CodeBadRequest)
	var dbs api.DatabaseList
	e.must(req{method: "GET", path: "/v1/db", token: w}, 200, &dbs)
	if len(dbs.Databases) != 1 || dbs.Databases[0].Name != "app" {
		t.Errorf("GET /v1/db = %+v", dbs)
	}

	var en api.Entry
	h := e.must(req{method: "PUT", path: "/v1/db/app/entries/prod/db", token: w,
		body: api.PutEntry{Fields: map[string]string{"password": "hunter2"}, Type: "credential", Tags: []string{"prod"}}}, 201, &en)
	if en.Path != "prod/db" || en.Revision != 1 || en.Fields != nil {
		t.Errorf("PUT entry = %+v, want prod/db revision 1 without fields", en)
	}
	if h.Get("ETag") != `"1"` || h.Get(api.HeaderRevision) != "1" {
		t.Errorf("PUT entry: ETag %q, revision %q", h.Get("ETag"), h.Get(api.HeaderRevision))
	}
	e.must(req{method: "GET", path: "/v1/db/app/entries/prod/db", token: w}, 200, &en)
	if en.Fields["password"] != "hunter2" || en.Type != "credential" || en.Revision != 1 {
		t.Errorf("GET entry = %+v", en)
	}
	// Compare and swap: If-Match, quoted or not, and the body's revision.
	e.must(req{method: "PUT", path: "/v1/db/app/entries/prod/db", token: w, header: map[string]string{"If-Match": `"1"`},
		body: api.PutEntry{Fields: map[string]string{"password": "v2"}}}, 200, &en)
	if en.Revision != 2 {
		t.Errorf("PUT with If-Match 1: revision %d, want 2", en.Revision)
	}
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/prod/db", token: w, header: map[string]string{"If-Match": "1"},
		body: api.PutEntry{Fields: map[string]string{"password": "lost"}}}, 412, api.CodePreconditionFailed)
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/prod/db", token: w,
		body: api.PutEntry{Fields: map[string]string{"password": "lost"}, Revision: 1}}, 412, api.CodePreconditionFailed)
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/prod/db", token: w, header: map[string]string{"If-Match": "two"},
		body: api.PutEntry{Fields: map[string]string{"password": "lost"}}}, 400, api.CodeBadRequest)
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/prod/db", token: w, header: map[string]string{"If-Match": "2"},
		body: api.PutEntry{Fields: map[string]string{"password": "lost"}, Revision: 1}}, 400, api.CodeBadRequest)
	e.must(req{method: "GET", path: "/v1/db/app/entries/prod/db", token: w}, 200, &en)
	if en.Fields["password"] != "v2" {
		t.Errorf("a refused PUT changed the entry: %+v", en)
	}

	// Delete honours If-Match.
	e.fails(req{method: "DELETE", path: "/v1/db/app/entries/prod/db", token: w, header: map[string]string{"If-Match": "1"}}, 412, api.CodePreconditionFailed)
	e.must(req{method: "DELETE", path: "/v1/db/app/entries/prod/db", token: w, header: map[string]string{"If-Match": "2"}}, 204, nil)
	e.fails(req{method: "GET", path: "/v1/db/app/entries/prod/db", token: w}, 404, api.CodeNotFound)
	e.fails(req{method: "DELETE", path: "/v1/db/app/entries/prod/db", token: w}, 404, api.CodeNotFound)
	e.fails(req{method: "GET", path: "/v1/db/nope/entries/x", token: w}, 404, api.CodeNotFound)
}

func TestListEntriesPages(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	for _, p := range []string{"a/1", "a/2", "a/3", "a/4", "a/5", "b/1"} {
		e.put(db, p, map[string]string{"secret": "s-" + p})
	}
	r := e.token(keyward.RoleReader)
	var got []string
	path := "/v1/db/app/entries?prefix=a/&limit=2"
	for range 5 {
		var l api.EntryList
		e.must(req{method: "GET", path: path, token: r}, 200, &l)
		for _, en := range l.Entries {
			if en.Fields != nil {
				t.Errorf("list entry %s has fields", en.Path)
			}
			got = append(got, en.Path)
		}
		if l.Next == "" {
			break
		}
		path = "/v1/db/app/entries?prefix=a/&limit=2&after=" + l.Next
	}
	if want := "a/1 a/2 a/3 a/4 a/5"; strings.Join(got, " ") != want {
		t.Errorf("pages = %s, want %s", strings.Join(got, " "), want)
	}
	e.fails(req{method: "GET", path: "/v1/db/app/entries?limit=0", token: r}, 400, api.CodeBadRequest)
	e.fails(req{method: "GET", path: "/v1/db/app/entries?limit=1001", token: r}, 400, api.CodeBadRequest)
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	e.mustDB("app")
	w := e.token(keyward.RoleWriter)
	put := func(body any, ct string) req {
		return req{method: "PUT", path: "/v1/db/app/entries/x", token: w, body: body, header: map[string]string{"Content-Type": ct}}
	}
	before := e.snapshot()
	e.fails(put([]byte(`{"fields":`), "application/json"), 400, api.CodeBadRequest)
	e.fails(put([]byte(`{"fields":{"a":"b"},"extra":1}`), "application/json"), 400, api.CodeBadRequest)
	e.fails(put([]byte(`{"fields":{"a":1}}`), "application/json"), 400, api.CodeBadRequest)
	e.fails(put([]byte(`{"fields":{}} {}`), "application/json"), 400, api.CodeBadRequest)
	e.fails(put([]byte(``), "application/json"), 400, api.CodeBadRequest)
	e.fails(put([]byte(`{"fields":{"a":"b"}}`), "text/plain"), 415, api.CodeUnsupportedMedia)
	big := []byte(`{"fields":{"a":"` + string(make([]byte, 5000)) + `"}}`)
	for i := range big[15 : len(big)-3] {
		big[15+i] = 'x'
	}
	e.fails(put(big, "application/json"), 413, api.CodeTooLarge)
	msg := e.fails(put([]byte(`{"fields":{"a":"hunter2"`), "application/json"), 400, api.CodeBadRequest)
	if strings.Contains(msg.Message, "hunter2") {
		t.Errorf("error message echoes the body: %q", msg.Message)
	}
	// A literal "attachments" segment names the attachment routes: PUT on
	// an attachment list is refused (an entry path spelled so travels
	// escaped, see TestEntryPathNamedAttachments).
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/a/attachments", token: w, body: api.PutEntry{Fields: map[string]string{"a": "b"}}}, 405, api.CodeMethodNotAllowed)
	if after := e.snapshot(); after != before {
		t.Errorf("refused requests changed the store:\n%s\nwant\n%s", after, before)
	}
	e.fails(req{method: "GET", path: "/v1/nope", token: w}, 404, api.CodeNotFound)
	e.fails(req{method: "PATCH", path: "/v1/db", token: w}, 405, api.CodeMethodNotAllowed)
	e.fails(req{method: "DELETE", path: "/v1/db/app/entries/x/attachments", token: w}, 405, api.CodeMethodNotAllowed)
}

func TestTokensRoutes(t *testing.T) {
	e := newEnv(t)
	var tc api.TokenCreated
	e.must(req{method: "POST", path: "/v1/tokens", token: e.admin,
		body: api.CreateToken{Name: "ci", Role: api.RoleReader, Databases: []string{"app"}, TTL: "1h"}}, 201, &tc)
	if tc.Secret == "" || tc.Token.Role != api.RoleReader || tc.Token.Expires.IsZero() {
		t.Errorf("POST /v1/tokens = %+v", tc.Token)
	}
	e.fails(req{method: "POST", path: "/v1/tokens", token: e.admin, body: api.CreateToken{Role: "root"}}, 400, api.CodeBadRequest)
	e.fails(req{method: "POST", path: "/v1/tokens", token: e.admin, body: api.CreateToken{Role: "reader", TTL: "soon"}}, 400, api.CodeBadRequest)
	var l api.TokenList
	e.must(req{method: "GET", path: "/v1/tokens", token: e.admin}, 200, &l)
	if len(l.Tokens) != 2 {
		t.Fatalf("GET /v1/tokens: %d tokens, want 2 (init's admin and ci)", len(l.Tokens))
	}
	// The new token works, then is revoked at once (cache included).
	e.must(req{method: "GET", path: "/v1/db", token: tc.Secret}, 200, nil)
	e.must(req{method: "DELETE", path: "/v1/tokens/" + tc.Token.ID, token: e.admin}, 204, nil)
	e.fails(req{method: "GET", path: "/v1/db", token: tc.Secret}, 401, api.CodeUnauthorized)
	e.fails(req{method: "DELETE", path: "/v1/tokens/" + tc.Token.ID, token: e.admin}, 404, api.CodeNotFound)
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "v"})
	e.fails(req{method: "GET", path: "/metrics"}, 401, api.CodeUnauthorized)
	r := e.token(keyward.RoleReader)
	e.must(req{method: "GET", path: "/v1/db/app/entries/x", token: r}, 200, nil)
	code, _, b := e.do(req{method: "GET", path: "/metrics", token: r})
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`keyward_http_requests_total{code="200",method="GET",route="GET /v1/db/{db}/entries/{path}"} 1`,
		`keyward_sealed 0`,
		`keyward_maintenance 0`,
		`keyward_key_version_records{database="app",state="primary",version="1"} 1`,
		`keyward_http_request_duration_seconds_bucket{method="GET",route="GET /v1/db/{db}/entries/{path}",le="+Inf"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(b), r) || strings.Contains(string(b), "/v1/db/app/entries/x") {
		t.Errorf("/metrics holds a token or an entry path")
	}
}

// An entry path with a segment "attachments" is addressed with that
// segment escaped (api.EscapeEntryPath), and is not confused with the
// attachments of the entry before it.
func TestEntryPathNamedAttachments(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "parent"})
	w := e.token(keyward.RoleWriter)
	esc, err := api.EscapeEntryPath("x/attachments")
	if err != nil {
		t.Fatal(err)
	}
	e.must(req{method: "PUT", path: "/v1/db/app/entries/" + esc, token: w, body: api.PutEntry{Fields: map[string]string{"k": "child"}}}, 201, nil)
	got, err := db.Get(context.Background(), "x/attachments")
	if err != nil || got.Fields["k"] != "child" {
		t.Fatalf("entry x/attachments = %+v, %v", got, err)
	}
	var en api.Entry
	e.must(req{method: "GET", path: "/v1/db/app/entries/" + esc, token: w}, 200, &en)
	if en.Path != "x/attachments" || en.Fields["k"] != "child" {
		t.Errorf("GET escaped path = %+v", en)
	}
	var list api.AttachmentList
	e.must(req{method: "GET", path: "/v1/db/app/entries/x/attachments", token: w}, 200, &list)
	if len(list.Attachments) != 0 {
		t.Errorf("x's attachments = %+v, want none", list.Attachments)
	}
	// Create refuses an existing path and changes nothing.
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/x", token: w, body: api.PutEntry{Fields: map[string]string{"k": "overwritten"}, Create: true}}, 409, api.CodeConflict)
	if got, _ := db.Get(context.Background(), "x"); got.Fields["k"] != "parent" || got.Revision != 1 {
		t.Errorf("create over an existing entry changed it: %+v", got)
	}
}
