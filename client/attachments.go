package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward/api"
)

// PutAttachment streams r to the server as the attachment name of the entry
// at path in db, replacing one of the same name. size is r's length when
// known (sent as Content-Length; the upload fails if r holds a different
// number of bytes), or -1 to send it chunked. r is never buffered whole:
// memory use does not depend on its size. If r fails midway, the server
// stores nothing.
func (c *Client) PutAttachment(ctx context.Context, db, path, name string, r io.Reader, size int64) (api.Attachment, error) {
	var out api.Attachment
	p, err := entryURL(db, path, api.AttachmentsSegment, name)
	if err != nil {
		return out, err
	}
	if size < 0 {
		size = -1
	}
	if r == nil {
		r = http.NoBody
	}
	req := &request{method: http.MethodPut, path: p, body: r, size: size, ctype: "application/octet-stream"}
	return out, c.do(ctx, req, &out)
}

// OpenAttachment returns the decrypted content of an attachment. The
// caller reads it to the end and closes it; a read error means the
// download broke off (the server stops sending when a chunk fails to
// authenticate), and what was read before must be discarded.
func (c *Client) OpenAttachment(ctx context.Context, db, path, name string) (io.ReadCloser, error) {
	return c.OpenAttachmentRange(ctx, db, path, name, 0, -1)
}

// OpenAttachmentRange returns length bytes of an attachment from offset
// (length -1: to the end). A range past the end is an *Error with status 416.
func (c *Client) OpenAttachmentRange(ctx context.Context, db, path, name string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < -1 {
		return nil, fmt.Errorf("%w: range offset %d, length %d", ErrInvalid, offset, length)
	}
	p, err := entryURL(db, path, api.AttachmentsSegment, name)
	if err != nil {
		return nil, err
	}
	r := &request{method: http.MethodGet, path: p}
	ranged := offset > 0 || length >= 0
	if ranged {
		if length == 0 {
			return io.NopCloser(strings.NewReader("")), nil
		}
		spec := fmt.Sprintf("bytes=%d-", offset)
		if length > 0 {
			spec += strconv.FormatInt(offset+length-1, 10)
		}
		r.header = http.Header{"Range": {spec}}
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	body := &download{rc: resp.Body, name: name}
	switch {
	case !ranged:
		return body, nil
	case resp.StatusCode == http.StatusPartialContent:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("client: attachment %q: the server answered range %q for offset %d", name, resp.Header.Get("Content-Range"), offset)
		}
	default: // the whole attachment: skip to offset ourselves
		if _, err := io.CopyN(io.Discard, body, offset); err != nil {
			resp.Body.Close()
			if errors.Is(err, io.EOF) {
				return nil, &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: api.CodeRangeNotSatisfiable,
					Message: fmt.Sprintf("offset %d is past the end of attachment %q", offset, name)}
			}
			return nil, err
		}
	}
	if length < 0 {
		return body, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(body, length), body}, nil
}

// contentRangeStart parses the first byte of "bytes FIRST-LAST/SIZE".
func contentRangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// download is an attachment's body; it names the attachment in errors.
type download struct {
	rc   io.ReadCloser
	name string
}

func (d *download) Read(p []byte) (int, error) {
	n, err := d.rc.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("client: download of attachment %q broke off (%w); discard what was read: the server stops when a chunk fails to authenticate, see its log", d.name, err)
	}
	return n, err
}

func (d *download) Close() error { return d.rc.Close() }

// Attachments lists the attachments of the entry at path in db.
func (c *Client) Attachments(ctx context.Context, db, path string) ([]api.Attachment, error) {
	p, err := entryURL(db, path, api.AttachmentsSegment)
	if err != nil {
		return nil, err
	}
	var out api.AttachmentList
	if err := c.do(ctx, &request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, err
	}
	return out.Attachments, nil
}

// DeleteAttachment removes one attachment. ErrNotFound if it does not exist.
func (c *Client) DeleteAttachment(ctx context.Context, db, path, name string) error {
	p, err := entryURL(db, path, api.AttachmentsSegment, name)
	if err != nil {
		return err
	}
	return c.do(ctx, &request{method: http.MethodDelete, path: p}, nil)
}
