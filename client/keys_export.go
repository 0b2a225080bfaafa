package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
)

// KeyExport is an export made by the server.
type KeyExport struct {
	File      []byte // the ASCII-armored age file
	Databases int    // how many databases it holds
	Keys      int    // how many key versions it holds
}

// ExportKeys asks the server for an export of the keys of req.Databases
// (every database when empty), encrypted to req.Recipients (age public
// keys). Whoever holds a recipient's identity can decrypt every record of
// these databases. It needs an admin token.
func (c *Client) ExportKeys(ctx context.Context, req api.KeyExportRequest) (KeyExport, error) {
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/keys/export", req)
	if err != nil {
		return KeyExport{}, err
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return KeyExport{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, api.MaxKeyImportBytes+1))
	if err != nil {
		return KeyExport{}, fmt.Errorf("client: export keys: %w", err)
	}
	if len(b) > api.MaxKeyImportBytes || !bytes.HasPrefix(b, []byte(armor.Header)) {
		return KeyExport{}, fmt.Errorf("client: export keys: the answer is not an armored age file of at most %d MiB; is this the keyward API?", api.MaxKeyImportBytes>>20)
	}
	out := KeyExport{File: b}
	out.Databases, _ = strconv.Atoi(resp.Header.Get(api.HeaderExportDatabases))
	out.Keys, _ = strconv.Atoi(resp.Header.Get(api.HeaderExportKeys))
	return out, nil
}

// ImportKeys sends an import request: an armored export with the identity
// or passphrase that opens it, which travel to the server. ImportBundle
// keeps them on this side. It needs an admin token. A real import that
// conflicts answers ErrExists (409) and changes nothing.
func (c *Client) ImportKeys(ctx context.Context, req api.KeyImportRequest) (api.KeyImportReport, error) {
	var out api.KeyImportReport
	r, err := jsonRequest(http.MethodPost, api.Prefix+"/keys/import", req)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, r, &out)
}

// ImportBundle imports an export that the caller opened and verified
// (bundle.Read) without sending the caller's identity or passphrase: it
// re-encrypts the export to a one-time X25519 key and sends that key with
// it, over the connection's TLS. It needs an admin token.
func (c *Client) ImportBundle(ctx context.Context, b *bundle.Bundle, overwrite, dryRun bool) (api.KeyImportReport, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return api.KeyImportReport{}, fmt.Errorf("client: %w", err)
	}
	var buf strings.Builder
	if err := bundle.Write(&buf, b, []age.Recipient{id.Recipient()}, true); err != nil {
		return api.KeyImportReport{}, fmt.Errorf("client: %w", err)
	}
	return c.ImportKeys(ctx, api.KeyImportRequest{Bundle: buf.String(), Identity: id.String(), Overwrite: overwrite, DryRun: dryRun})
}
