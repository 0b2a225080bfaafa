package server

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	var req api.CreateToken
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	spec := keyward.TokenSpec{Name: req.Name, Role: keyward.Role(req.Role), Databases: req.Databases}
	switch spec.Role {
	case keyward.RoleAdmin, keyward.RoleWriter, keyward.RoleReader:
	default:
		return badRequest("role must be %q, %q or %q", api.RoleAdmin, api.RoleWriter, api.RoleReader)
	}
	if req.TTL != "" {
		ttl, err := time.ParseDuration(req.TTL)
		if err != nil || ttl <= 0 {
			return badRequest("ttl must be a positive Go duration such as \"720h\"")
		}
		spec.Expires = time.Now().Add(ttl).UTC()
	}
	secret, t, err := s.kw.CreateToken(r.Context(), spec)
	if err != nil {
		return err
	}
	s.log.Info("token created", "id", t.ID, "role", string(t.Role), "by", tok.ID)
	writeJSON(w, http.StatusCreated, api.TokenCreated{Token: toAPIToken(t), Secret: secret})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *keyward.Token) error {
	ts, err := s.kw.Tokens(r.Context())
	if err != nil {
		return err
	}
	out := api.TokenList{Tokens: make([]api.Token, len(ts))}
	for i, t := range ts {
		out.Tokens[i] = toAPIToken(t)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteToken revokes a token. This server forgets it at once; others
// sharing the store within their token cache TTL.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, tok *keyward.Token) error {
	id := r.PathValue("id")
	err := s.kw.DeleteToken(r.Context(), id)
	s.tokens.drop(id) // also when it was gone already
	if err != nil {
		return err
	}
	s.log.Info("token deleted", "id", id, "by", tok.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func toAPIToken(t keyward.Token) api.Token {
	return api.Token{ID: t.ID, Name: t.Name, Role: string(t.Role), Databases: t.Databases,
		Created: t.Created, Expires: t.Expires}
}
