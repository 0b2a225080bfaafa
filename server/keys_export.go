package server

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
)

// exportKeys answers an export of the named databases' keys (all when none
// are named) to the request's age recipients, ASCII-armored. The server
// never makes passphrase exports: a passphrase chosen by a remote caller
// would be the only protection of every key.
func (s *Server) exportKeys(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	var req api.KeyExportRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	recipients, err := parseRecipients(req.Recipients)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	sum, err := s.kw.ExportKeys(r.Context(), &buf, keyward.ExportOptions{Databases: req.Databases, Recipients: recipients, Armor: true})
	if err != nil {
		return err
	}
	s.log.Info("keys exported", "databases", len(sum.Databases), "keys", sum.Keys(), "recipients", len(recipients), "token", tok.ID)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=us-ascii")
	h.Set("Content-Disposition", `attachment; filename="keyward-keys.age"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set(api.HeaderExportDatabases, strconv.Itoa(len(sum.Databases)))
	h.Set(api.HeaderExportKeys, strconv.Itoa(sum.Keys()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func parseRecipients(in []string) ([]age.Recipient, error) {
	if len(in) == 0 {
		return nil, badRequest("give at least one recipient (an age public key, age1…); " +
			"passphrase exports are made with the CLI on the data directory, not through the server")
	}
	if len(in) > api.MaxExportRecipients {
		return nil, badRequest("at most %d recipients", api.MaxExportRecipients)
	}
	out := make([]age.Recipient, len(in))
	for i, s := range in {
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil || len(rs) != 1 || strings.ContainsAny(s, "\r\n") {
			// Not echoed: a secret key sent by mistake must not come back.
			return nil, badRequest("recipient %d is not an age public key (age1…)", i+1)
		}
		out[i] = rs[0]
	}
	return out, nil
}

// importKeys reads an export with the identity or passphrase of the
// request and imports it (or reports what it would do).
func (s *Server) importKeys(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	var req api.KeyImportRequest
	if err := decodeJSON(w, r, api.MaxKeyImportBytes, &req); err != nil {
		return err
	}
	b, err := readBundle(req)
	if err != nil {
		return err
	}
	defer b.Wipe()
	rep, err := s.kw.ImportKeys(r.Context(), b, keyward.ImportOptions{Overwrite: req.Overwrite, DryRun: req.DryRun})
	switch {
	case errors.Is(err, keyward.ErrWrongDeployment), errors.Is(err, keyward.ErrConflict):
		return errorf(http.StatusConflict, api.CodeConflict, "%s", err.Error())
	case err != nil:
		return err
	}
	s.log.Info("keys imported", "dry_run", req.DryRun, "added", rep.Count(api.KeyAdd), "replaced", rep.Count(api.KeyReplace),
		"unchanged", rep.Count(api.KeySame), "token", tok.ID)
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// readBundle opens and verifies the export of an import request.
func readBundle(req api.KeyImportRequest) (*bundle.Bundle, error) {
	if !strings.HasPrefix(strings.TrimSpace(req.Bundle), armor.Header) {
		return nil, badRequest("bundle: send the export ASCII-armored (it starts with %s)", armor.Header)
	}
	var ids []age.Identity
	switch {
	case (req.Identity == "") == (req.Passphrase == ""):
		return nil, badRequest("send exactly one of identity and passphrase")
	case req.Identity != "":
		var err error
		if ids, err = age.ParseIdentities(strings.NewReader(req.Identity)); err != nil {
			return nil, badRequest("identity: not an age identity file (AGE-SECRET-KEY-1… lines)")
		}
	default:
		id, err := age.NewScryptIdentity(req.Passphrase)
		if err != nil {
			return nil, badRequest("passphrase: %v", err)
		}
		ids = []age.Identity{id}
	}
	b, err := bundle.Read(strings.NewReader(req.Bundle), ids)
	if err != nil {
		return nil, badRequest("%s; nothing was imported", err.Error())
	}
	return b, nil
}
