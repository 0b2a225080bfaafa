package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/keyward/keyward/api"
)

// Health reports whether the server serves data. It needs no token. A
// sealed server or one in maintenance answers 503 with a Health body, which
// Health returns without an error.
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var out api.Health
	r := &request{method: http.MethodGet, path: api.Prefix + "/sys/health", alsoOK: http.StatusServiceUnavailable}
	return out, c.do(ctx, r, &out)
}

// Status reports the server's state; Deployment is set only for an admin
// token of an unlocked server.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var out api.Status
	return out, c.do(ctx, &request{method: http.MethodGet, path: api.Prefix + "/sys/status"}, &out)
}

// Unlock unseals the server with a passphrase (tried on the env: slots) or
// the recovery key: exactly one of them. ErrUnlockFailed if no slot opens;
// the *Error's Slots say why each failed.
func (c *Client) Unlock(ctx context.Context, req api.UnlockRequest) (api.UnlockResponse, error) {
	var out api.UnlockResponse
	if (req.Passphrase == "") == (req.RecoveryKey == "") {
		return out, errors.New("client: unlock needs exactly one of a passphrase and a recovery key")
	}
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/sys/unlock", req)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// Maintenance reports the maintenance switch.
func (c *Client) Maintenance(ctx context.Context) (api.Maintenance, error) {
	var out api.Maintenance
	return out, c.do(ctx, &request{method: http.MethodGet, path: api.Prefix + "/sys/maintenance"}, &out)
}

// SetMaintenance switches maintenance on (data requests answer 503) or
// off. It needs an admin token.
func (c *Client) SetMaintenance(ctx context.Context, enabled bool, reason string) (api.Maintenance, error) {
	var out api.Maintenance
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/sys/maintenance", api.MaintenanceRequest{Enabled: enabled, Reason: reason})
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// CreateToken makes an API token. The secret in the answer is shown only
// this once. It needs an admin token.
func (c *Client) CreateToken(ctx context.Context, t api.CreateToken) (api.TokenCreated, error) {
	var out api.TokenCreated
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/tokens", t)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// Tokens lists the tokens (never their secrets).
func (c *Client) Tokens(ctx context.Context) ([]api.Token, error) {
	var out api.TokenList
	if err := c.do(ctx, &request{method: http.MethodGet, path: api.Prefix + "/tokens"}, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// DeleteToken revokes a token. ErrNotFound if there is no such id.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("client: empty token id")
	}
	return c.do(ctx, &request{method: http.MethodDelete, path: api.Prefix + "/tokens/" + url.PathEscape(id)}, nil)
}
