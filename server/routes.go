package server

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// access says who may call a route and whether it is a data route (closed
// while sealed or in maintenance).
type access int

const (
	public    access = iota + 1 // no token needed (one that is sent must be valid)
	anyToken                    // any valid token
	adminOnly                   // an admin token
	dbRead                      // a token that may read the {db} of the path
	dbWrite                     // a token that may write the {db} of the path
	dataAny                     // any valid token; a data route that checks databases itself
)

func (a access) data() bool { return a == dbRead || a == dbWrite || a == dataAny }

// handlerFunc serves a request whose token (nil on public routes without
// one) has been checked. A returned error is answered by Server.fail.
type handlerFunc func(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error

// route is one method and path of the API as documented in
// api/openapi.yaml.
type route struct {
	method string
	path   string // the OpenAPI path: {path} stands for an entry path with slashes
	access access
	h      handlerFunc
}

// Paths under entryRoot are served by one mux pattern per method, because
// an entry path may hold slashes and `{path...}` must end a pattern. See
// splitEntryPath.
const entryRoot = api.Prefix + "/db/{db}/entries/{path}"

func (s *Server) routeTable() []route {
	v1 := api.Prefix
	return []route{
		{"GET", v1 + "/sys/health", public, s.health},
		{"GET", v1 + "/sys/status", public, s.getStatus},
		{"POST", v1 + "/sys/unlock", adminOnly, s.unlock},
		{"GET", v1 + "/sys/maintenance", anyToken, s.getMaintenance},
		{"POST", v1 + "/sys/maintenance", adminOnly, s.setMaintenance},
		{"GET", v1 + "/db", dataAny, s.listDatabases},
		{"POST", v1 + "/db", dataAny, s.createDatabase},
		{"GET", v1 + "/db/{db}/entries", dbRead, s.listEntries},
		{"GET", entryRoot, dbRead, s.getEntry},
		{"PUT", entryRoot, dbWrite, s.putEntry},
		{"DELETE", entryRoot, dbWrite, s.deleteEntry},
		{"GET", entryRoot + "/attachments", dbRead, s.listAttachments},
		{"GET", entryRoot + "/attachments/{name}", dbRead, s.getAttachment},
		{"PUT", entryRoot + "/attachments/{name}", dbWrite, s.putAttachment},
		{"DELETE", entryRoot + "/attachments/{name}", dbWrite, s.deleteAttachment},
		{"POST", v1 + "/tokens", adminOnly, s.createToken},
		{"GET", v1 + "/tokens", adminOnly, s.listTokens},
		{"DELETE", v1 + "/tokens/{id}", adminOnly, s.deleteToken},
		{"POST", v1 + "/keys/rotate-root", adminOnly, s.rotateRoot},
		{"POST", v1 + "/keys/verify", adminOnly, s.verifyKeys},
		{"GET", v1 + "/audit", adminOnly, s.listAudit},
		{"POST", v1 + "/audit/verify", adminOnly, s.verifyAudit},
		{"POST", v1 + "/keys/regenerate", adminOnly, s.regenerate},
		{"GET", v1 + "/keys/jobs", adminOnly, s.listJobs},
		{"GET", v1 + "/keys/jobs/{id}", adminOnly, s.getJob},
		{"POST", v1 + "/keys/jobs/{id}/pause", adminOnly, s.jobAction("pause")},
		{"POST", v1 + "/keys/jobs/{id}/resume", adminOnly, s.jobAction("resume")},
		{"POST", v1 + "/keys/jobs/{id}/cancel", adminOnly, s.jobAction("cancel")},
		{"POST", v1 + "/keys/{db}/versions/{version}/destroy", adminOnly, s.destroyKey},
		{"POST", v1 + "/keys/export", adminOnly, s.exportKeys},
		{"POST", v1 + "/keys/import", adminOnly, s.importKeys},
		{"GET", "/metrics", anyToken, s.serveMetrics},
	}
}

// register adds the routes to the mux: each at its own path, but those
// under entryRoot through one `{rest...}` pattern per method.
func (s *Server) register() {
	entries := map[string]map[entryKind]route{}
	for _, rt := range s.routes {
		if rt.path == "/metrics" && s.cfg.MetricsPublic {
			rt.access = public
		}
		kind, ok := entryKindOf(rt.path)
		if !ok {
			s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt.method+" "+rt.path, rt.access, rt.h))
			continue
		}
		if entries[rt.method] == nil {
			entries[rt.method] = map[entryKind]route{}
		}
		entries[rt.method][kind] = rt
	}
	for method, kinds := range entries {
		var acc access
		for _, rt := range kinds {
			acc = rt.access // the same for every kind of one method
		}
		pattern := method + " " + api.Prefix + "/db/{db}/entries/{rest...}"
		s.mux.Handle(pattern, s.wrap(pattern, acc, s.dispatchEntry(method, kinds)))
	}
}

// entryKind is what an entry-rooted path names.
type entryKind int

const (
	kindEntry       entryKind = iota + 1 // …/entries/{path}
	kindAttachments                      // …/entries/{path}/attachments
	kindAttachment                       // …/entries/{path}/attachments/{name}
)

func entryKindOf(path string) (entryKind, bool) {
	switch path {
	case entryRoot:
		return kindEntry, true
	case entryRoot + "/attachments":
		return kindAttachments, true
	case entryRoot + "/attachments/{name}":
		return kindAttachment, true
	}
	return 0, false
}

// entryURL takes apart the escaped rest of an entry-rooted URL path with
// api.ParseEntryURL: a literal "attachments" segment starts the attachment
// part, and an entry path segment spelled "attachments" travels escaped
// (%61ttachments), so every entry path can be addressed. The escaped form
// is read from the request, since PathValue unescapes too early to tell
// the two apart.
func entryURL(r *http.Request) (kind entryKind, u api.EntryURL, err error) {
	// /v1/db/{db}/entries/{rest...}: the rest is everything after the
	// fifth '/'.
	segs := strings.SplitN(r.URL.EscapedPath(), "/", 6)
	if len(segs) < 6 || segs[5] == "" {
		return 0, u, errorf(http.StatusNotFound, api.CodeNotFound, "no entry path after /entries/")
	}
	u, err = api.ParseEntryURL(segs[5])
	if err != nil {
		return 0, u, badRequest("%s", strings.TrimPrefix(err.Error(), "api: "))
	}
	switch {
	case !u.Attachments:
		return kindEntry, u, nil
	case u.Name == "":
		return kindAttachments, u, nil
	}
	return kindAttachment, u, nil
}

// dispatchEntry serves one method of every entry-rooted route.
func (s *Server) dispatchEntry(method string, kinds map[entryKind]route) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
		kind, u, err := entryURL(r)
		if err != nil {
			return err
		}
		rt, ok := kinds[kind]
		if !ok {
			w.Header().Set("Allow", "GET, HEAD")
			return errorf(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed,
				"%s is not served on an attachment list", method)
		}
		setRoute(w, rt.method+" "+rt.path)
		r.SetPathValue("path", u.Path)
		r.SetPathValue("name", u.Name)
		return rt.h(w, r, tok)
	}
}
