package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/keyward/keyward/api"
)

// Databases lists the databases the token may see.
func (c *Client) Databases(ctx context.Context) ([]api.Database, error) {
	var out api.DatabaseList
	if err := c.do(ctx, &request{method: http.MethodGet, path: api.Prefix + "/db"}, &out); err != nil {
		return nil, err
	}
	return out.Databases, nil
}

// CreateDatabase creates a database. ErrExists if the name is taken.
func (c *Client) CreateDatabase(ctx context.Context, name string) (api.Database, error) {
	var out api.Database
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/db", api.CreateDatabase{Name: name})
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// entryURL is the escaped path of an entry, or of something under it.
func entryURL(db, path string, under ...string) (string, error) {
	if db == "" {
		return "", fmt.Errorf("%w: empty database name", ErrInvalid)
	}
	p, err := api.EscapeEntryPath(path)
	if err != nil {
		return "", fmt.Errorf("%w: entry path %q: %v", ErrInvalid, path, err)
	}
	s := api.Prefix + "/db/" + url.PathEscape(db) + "/entries/" + p
	for _, u := range under {
		if u == "" || u == "." || u == ".." {
			return "", fmt.Errorf("%w: attachment name %q", ErrInvalid, u)
		}
		s += "/" + url.PathEscape(u)
	}
	return s, nil
}

// Get returns the entry at path in db with its fields decrypted.
// ErrNotFound if there is none.
func (c *Client) Get(ctx context.Context, db, path string) (api.Entry, error) {
	var out api.Entry
	p, err := entryURL(db, path)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, &request{method: http.MethodGet, path: p}, &out)
}

// Put stores e at path in db. With e.Revision == 0 it creates or replaces
// the entry; with e.Revision == N it succeeds only if the stored revision is
// N, else ErrConflict (compare and swap; also when there is no entry). It
// returns the stored entry with its new revision.
func (c *Client) Put(ctx context.Context, db, path string, e api.PutEntry) (api.Entry, error) {
	return c.put(ctx, db, path, e)
}

// Create stores e at path in db only if nothing is there yet: ErrExists
// otherwise. e.Revision must be 0.
func (c *Client) Create(ctx context.Context, db, path string, e api.PutEntry) (api.Entry, error) {
	if e.Revision != 0 {
		return api.Entry{}, fmt.Errorf("%w: Create with a revision; use Put for compare and swap", ErrInvalid)
	}
	e.Create = true
	return c.put(ctx, db, path, e)
}

func (c *Client) put(ctx context.Context, db, path string, e api.PutEntry) (api.Entry, error) {
	var out api.Entry
	p, err := entryURL(db, path)
	if err != nil {
		return out, err
	}
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	r, err := jsonRequest(http.MethodPut, p, e)
	if err != nil {
		return out, err
	}
	if e.Revision > 0 {
		r.header = http.Header{api.HeaderIfMatch: {strconv.FormatInt(e.Revision, 10)}}
	}
	return out, c.do(ctx, r, &out)
}

// Delete removes the entry at path in db and its attachments. revision 0
// deletes whatever the revision; otherwise ErrConflict unless it matches.
func (c *Client) Delete(ctx context.Context, db, path string, revision int64) error {
	p, err := entryURL(db, path)
	if err != nil {
		return err
	}
	r := &request{method: http.MethodDelete, path: p}
	if revision > 0 {
		r.header = http.Header{api.HeaderIfMatch: {strconv.FormatInt(revision, 10)}}
	}
	return c.do(ctx, r, nil)
}

// ListOptions selects a page of entries.
type ListOptions struct {
	Prefix string // only paths starting with Prefix
	After  string // only paths after this one (the Next of the previous page)
	Limit  int    // page size; 0 means the server's default (api.DefaultLimit)
}

// List returns one page of entries of db (metadata only, ordered by path).
// The page's Next, when set, is the After of the next page; Entries
// follows it for you.
func (c *Client) List(ctx context.Context, db string, o ListOptions) (api.EntryList, error) {
	var out api.EntryList
	if db == "" {
		return out, fmt.Errorf("%w: empty database name", ErrInvalid)
	}
	q := url.Values{}
	if o.Prefix != "" {
		q.Set(api.QueryPrefix, o.Prefix)
	}
	if o.After != "" {
		q.Set(api.QueryAfter, o.After)
	}
	if o.Limit > 0 {
		q.Set(api.QueryLimit, strconv.Itoa(o.Limit))
	}
	r := &request{method: http.MethodGet, path: api.Prefix + "/db/" + url.PathEscape(db) + "/entries", query: q}
	return out, c.do(ctx, r, &out)
}

// Entries iterates over every entry of db whose path starts with prefix,
// fetching pages as it goes. It stops at the first error, which it yields.
func (c *Client) Entries(ctx context.Context, db, prefix string) iter.Seq2[api.Entry, error] {
	return func(yield func(api.Entry, error) bool) {
		o := ListOptions{Prefix: prefix}
		for {
			page, err := c.List(ctx, db, o)
			if err != nil {
				yield(api.Entry{}, err)
				return
			}
			for _, e := range page.Entries {
				if !yield(e, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			if page.Next <= o.After {
				yield(api.Entry{}, fmt.Errorf("client: the server's next page (after %q) does not move forward", page.Next))
				return
			}
			o.After = page.Next
		}
	}
}

// ListAll returns every entry of db whose path starts with prefix, following
// the pages.
func (c *Client) ListAll(ctx context.Context, db, prefix string) ([]api.Entry, error) {
	var out []api.Entry
	for e, err := range c.Entries(ctx, db, prefix) {
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
