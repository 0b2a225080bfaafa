package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// A refused request gets 401 or 403 and leaves the store as it was.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	app := e.mustDB("app")
	e.mustDB("other")
	e.put(app, "x", map[string]string{"k": "v"})
	if _, err := app.PutAttachment(context.Background(), "x", "f", strings.NewReader("file")); err != nil {
		t.Fatal(err)
	}
	reader := e.token(keyward.RoleReader)
	writer := e.token(keyward.RoleWriter)
	scoped := e.token(keyward.RoleWriter, "app")
	// An admin token that expired a minute ago: the library refuses to
	// make one, so its expiry is moved back in the store.
	expired, et, err := e.kw.CreateToken(context.Background(), keyward.TokenSpec{Role: keyward.RoleAdmin, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw().Exec("UPDATE tokens SET expires = ? WHERE id = ?", time.Now().Add(-time.Minute).UnixNano(), et.ID); err != nil {
		t.Fatal(err)
	}
	deleted, dt, err := e.kw.CreateToken(context.Background(), keyward.TokenSpec{Role: keyward.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e.must(req{method: "GET", path: "/v1/tokens", token: deleted}, 200, nil) // now cached
	e.must(req{method: "DELETE", path: "/v1/tokens/" + dt.ID, token: e.admin}, 204, nil)

	entry := api.PutEntry{Fields: map[string]string{"k": "changed"}}
	writes := []req{
		{method: "POST", path: "/v1/db", body: api.CreateDatabase{Name: "new"}},
		{method: "PUT", path: "/v1/db/app/entries/x", body: entry},
		{method: "PUT", path: "/v1/db/app/entries/y", body: entry},
		{method: "DELETE", path: "/v1/db/app/entries/x"},
		{method: "PUT", path: "/v1/db/app/entries/x/attachments/g", body: []byte("data")},
		{method: "DELETE", path: "/v1/db/app/entries/x/attachments/f"},
		{method: "POST", path: "/v1/tokens", body: api.CreateToken{Role: "admin"}},
		{method: "DELETE", path: "/v1/tokens/" + dt.ID},
		{method: "POST", path: "/v1/sys/maintenance", body: api.MaintenanceRequest{Enabled: true}},
	}
	reads := []req{
		{method: "GET", path: "/v1/db"},
		{method: "GET", path: "/v1/db/app/entries"},
		{method: "GET", path: "/v1/db/app/entries/x"},
		{method: "GET", path: "/v1/db/app/entries/x/attachments"},
		{method: "GET", path: "/v1/db/app/entries/x/attachments/f"},
		{method: "GET", path: "/v1/tokens"},
		{method: "GET", path: "/v1/sys/maintenance"},
		{method: "GET", path: "/metrics"},
	}
	before := e.snapshot()
	for _, r := range append(append([]req{}, writes...), reads...) {
		for _, tok := range []string{"", "kw_aaaaaaaaaaaaaaaa_bbbb", "not-a-token", expired, deleted} {
			r.token = tok
			e.fails(r, 401, api.CodeUnauthorized)
		}
	}
	forbidden := []struct {
		token string
		r     req
	}{
		{reader, writes[0]}, {reader, writes[1]}, {reader, writes[2]}, {reader, writes[3]}, {reader, writes[4]}, {reader, writes[5]},
		{writer, writes[6]}, {writer, writes[7]}, {writer, writes[8]},
		{writer, reads[5]}, {reader, reads[5]},
		{writer, req{method: "POST", path: "/v1/sys/unlock", body: api.UnlockRequest{Passphrase: "x"}}},
		{scoped, req{method: "POST", path: "/v1/db", body: api.CreateDatabase{Name: "new"}}},
		{scoped, req{method: "GET", path: "/v1/db/other/entries"}},
		{scoped, req{method: "GET", path: "/v1/db/other/entries/x"}},
		{scoped, req{method: "PUT", path: "/v1/db/other/entries/x", body: entry}},
		{scoped, req{method: "GET", path: "/v1/db/other/entries/x/attachments/f"}},
	}
	for _, f := range forbidden {
		f.r.token = f.token
		e.fails(f.r, 403, api.CodeForbidden)
	}
	if after := e.snapshot(); after != before {
		t.Errorf("refused requests changed the store:\n%s\nwant\n%s", after, before)
	}
	// A database-scoped token lists only its databases.
	var l api.DatabaseList
	e.must(req{method: "GET", path: "/v1/db", token: scoped}, 200, &l)
	if len(l.Databases) != 1 || l.Databases[0].Name != "app" {
		t.Errorf("GET /v1/db with a token for app = %+v, want app only", l.Databases)
	}
	// And what they may do works.
	e.must(req{method: "GET", path: "/v1/db/app/entries/x", token: reader}, 200, nil)
	e.must(req{method: "PUT", path: "/v1/db/app/entries/x", token: scoped, body: entry}, 200, nil)
}

func TestTokenCacheHonoursExpiry(t *testing.T) {
	c := newTokenCache(time.Hour)
	now := time.Now()
	key := [32]byte{1}
	c.put(key, keyward.Token{ID: "a", Expires: now.Add(time.Second)}, now)
	if _, ok := c.get(key, now.Add(500*time.Millisecond)); !ok {
		t.Errorf("token missing from the cache before it expires")
	}
	if _, ok := c.get(key, now.Add(2*time.Second)); ok {
		t.Errorf("cache serves a token after its expiry")
	}
	c.put(key, keyward.Token{ID: "a"}, now)
	c.drop("a")
	if _, ok := c.get(key, now); ok {
		t.Errorf("cache serves a dropped token")
	}
}
