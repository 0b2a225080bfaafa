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

// reservedSegment is the path segment that introduces an entry's
// attachments.
const reservedSegment = "attachments"

// splitEntryPath reads the rest of an entry-rooted URL path: ".../attachments"
// lists the attachments of the entry before it, ".../attachments/NAME" is
// one of them, anything else is an entry path. Hence an entry whose last or
// second-to-last path segment is "attachments" cannot be addressed over
// HTTP; putEntry refuses to create one.
func splitEntryPath(rest string) (kind entryKind, entry, name string) {
	segs := strings.Split(rest, "/")
	n := len(segs)
	switch {
	case n >= 2 && segs[n-1] == reservedSegment:
		return kindAttachments, strings.Join(segs[:n-1], "/"), ""
	case n >= 3 && segs[n-2] == reservedSegment:
		return kindAttachment, strings.Join(segs[:n-2], "/"), segs[n-1]
	}
	return kindEntry, rest, ""
}

// reservedPath reports whether an entry path cannot be addressed.
func reservedPath(p string) bool {
	segs := strings.Split(p, "/")
	n := len(segs)
	return segs[n-1] == reservedSegment || (n >= 2 && segs[n-2] == reservedSegment)
}

func errReservedPath(p string) *apiError {
	return badRequest("entry path %q cannot be used over HTTP: a last or second-to-last segment %q "+
		"names an entry's attachments (…/attachments/NAME); choose another path", p, reservedSegment)
}

// dispatchEntry serves one method of every entry-rooted route.
func (s *Server) dispatchEntry(method string, kinds map[entryKind]route) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
		rest := r.PathValue("rest")
		if rest == "" {
			return errorf(http.StatusNotFound, api.CodeNotFound, "no entry path after /entries/")
		}
		kind, entry, name := splitEntryPath(rest)
		rt, ok := kinds[kind]
		if !ok {
			if method == http.MethodPut && kind == kindAttachments {
				return errReservedPath(rest)
			}
			w.Header().Set("Allow", "GET, HEAD")
			return errorf(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed,
				"%s is not served on an attachment list", method)
		}
		setRoute(w, rt.method+" "+rt.path)
		r.SetPathValue("path", entry)
		r.SetPathValue("name", name)
		return rt.h(w, r, tok)
	}
}
