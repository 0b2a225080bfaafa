package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward/api"
)

// RotateRoot replaces the server's root key (admin). A refusal because
// some slots cannot wrap the new key is an *Error with status 409 whose
// message lists them; nothing changed then.
func (c *Client) RotateRoot(ctx context.Context, req api.RotateRootRequest) (api.RotateSummary, error) {
	var out api.RotateSummary
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/keys/rotate-root", req)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// Verify opens every ciphertext of the chosen databases on the server
// (admin) and returns the summary and the failures (capped).
func (c *Client) Verify(ctx context.Context, req api.VerifyRequest) (api.VerifyResponse, error) {
	var out api.VerifyResponse
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/keys/verify", req)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// Audit returns one page of audit records with seq > after (and at or
// after since, unless zero), at most limit (0: the server's default).
func (c *Client) Audit(ctx context.Context, after int64, since time.Time, limit int) (api.AuditList, error) {
	var out api.AuditList
	q := url.Values{}
	if after > 0 {
		q.Set(api.QueryAfter, strconv.FormatInt(after, 10))
	}
	if !since.IsZero() {
		q.Set(api.QuerySince, since.UTC().Format(time.RFC3339Nano))
	}
	if limit > 0 {
		q.Set(api.QueryLimit, strconv.Itoa(limit))
	}
	return out, c.do(ctx, &request{method: http.MethodGet, path: api.Prefix + "/audit", query: q}, &out)
}

// VerifyAudit checks the server's audit chain, against anchor if not empty.
func (c *Client) VerifyAudit(ctx context.Context, anchor string) (api.AuditVerification, error) {
	var out api.AuditVerification
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/audit/verify", api.AuditVerifyRequest{Anchor: anchor})
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}
