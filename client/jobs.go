package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/keyward/keyward/api"
)

// Regenerate starts a key regeneration in the server (admin token). The
// server writes no backup: export the keys first. It returns the job the
// server runs (202).
func (c *Client) Regenerate(ctx context.Context, req api.RegenerateRequest) (api.Job, error) {
	var out api.Job
	if req.DryRun {
		return out, errors.New("client: use RegenerateDryRun for a dry run")
	}
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/keys/regenerate", req)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// RegenerateDryRun counts what a regeneration would re-encrypt; nothing
// changes.
func (c *Client) RegenerateDryRun(ctx context.Context, databases []string) (api.DryRun, error) {
	var out api.DryRun
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/keys/regenerate", api.RegenerateRequest{Databases: databases, DryRun: true})
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// Jobs lists the server's jobs.
func (c *Client) Jobs(ctx context.Context) ([]api.Job, error) {
	var out api.JobList
	if err := c.do(ctx, &request{method: http.MethodGet, path: api.Prefix + "/keys/jobs"}, &out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

// Job returns one job. ErrNotFound.
func (c *Client) Job(ctx context.Context, id string) (api.Job, error) {
	var out api.Job
	if id == "" {
		return out, errors.New("client: empty job id")
	}
	return out, c.do(ctx, &request{method: http.MethodGet, path: api.Prefix + "/keys/jobs/" + url.PathEscape(id)}, &out)
}

// JobAction pauses, resumes (the server then runs it) or cancels a job:
// action is "pause", "resume" or "cancel". ErrExists (409 conflict) if the job is not in
// a state that allows it.
func (c *Client) JobAction(ctx context.Context, id, action string) (api.Job, error) {
	var out api.Job
	switch {
	case id == "":
		return out, errors.New("client: empty job id")
	case action != "pause" && action != "resume" && action != "cancel":
		return out, fmt.Errorf("client: job action %q: want pause, resume or cancel", action)
	}
	return out, c.do(ctx, &request{method: http.MethodPost, path: api.Prefix + "/keys/jobs/" + url.PathEscape(id) + "/" + action}, &out)
}

// DestroyKey deletes a retired data key version of a database. ErrExists (409 conflict)
// while it is primary, active or used.
func (c *Client) DestroyKey(ctx context.Context, db string, version uint32) error {
	path := fmt.Sprintf("%s/keys/%s/versions/%d/destroy", api.Prefix, url.PathEscape(db), version)
	return c.do(ctx, &request{method: http.MethodPost, path: path}, nil)
}
