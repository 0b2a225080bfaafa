package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// authenticate returns the request's token: nil on a public route called
// without one. A token that is sent must be valid, whatever the route.
func (s *Server) authenticate(r *http.Request, acc access) (*keyward.Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if acc == public {
			return nil, nil
		}
		return nil, errorf(http.StatusUnauthorized, api.CodeUnauthorized,
			"this route needs a token: send Authorization: Bearer <token> (an admin creates tokens with POST /v1/tokens)")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, errorf(http.StatusUnauthorized, api.CodeUnauthorized,
			"malformed Authorization header: want Bearer <token>")
	}
	tok, err := s.verify(r.Context(), secret)
	if errors.Is(err, keyward.ErrUnauthorized) {
		s.metrics.authFailures.Inc()
		return nil, errorf(http.StatusUnauthorized, api.CodeUnauthorized,
			"the token is unknown, revoked or expired: ask an admin for a valid one")
	}
	if err != nil {
		return nil, err
	}
	return &tok, nil
}

// authorize checks the token's role and databases against the route.
func authorize(tok *keyward.Token, acc access, r *http.Request) error {
	switch acc {
	case adminOnly:
		if tok.Role != keyward.RoleAdmin {
			return forbidden(tok, "this route needs an admin token")
		}
	case dbRead, dbWrite:
		db := r.PathValue("db")
		write := acc == dbWrite
		if !tok.Allows(db, write) {
			verb := "read"
			if write {
				verb = "write"
			}
			return forbidden(tok, "this token may not %s database %q", verb, db)
		}
	}
	return nil
}

func forbidden(tok *keyward.Token, format string, args ...any) *apiError {
	e := errorf(http.StatusForbidden, api.CodeForbidden, format, args...)
	e.body.Message += " (token " + tok.ID + ", role " + string(tok.Role)
	if len(tok.Databases) > 0 {
		e.body.Message += ", databases " + strings.Join(tok.Databases, ", ")
	}
	e.body.Message += ")"
	return e
}

// verify checks a token secret, through the cache.
func (s *Server) verify(ctx context.Context, secret string) (keyward.Token, error) {
	key := sha256.Sum256([]byte(secret))
	now := time.Now()
	if tok, ok := s.tokens.get(key, now); ok {
		return tok, nil
	}
	tok, err := s.kw.VerifyToken(ctx, secret)
	if err != nil {
		return keyward.Token{}, err
	}
	s.tokens.put(key, tok, now)
	return tok, nil
}

// maxCachedTokens bounds the token cache; when it is full, expired entries
// go, and if that is not enough, all of them.
const maxCachedTokens = 4096

// tokenCache remembers verified tokens for a short time, by the SHA-256 of
// their secret (the secret itself is not kept).
type tokenCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	tok   keyward.Token
	until time.Time
}

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, m: map[[sha256.Size]byte]cachedToken{}}
}

func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (keyward.Token, bool) {
	if c.ttl <= 0 {
		return keyward.Token{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.until) {
		delete(c.m, key)
		return keyward.Token{}, false
	}
	return e.tok, true
}

func (c *tokenCache) put(key [sha256.Size]byte, tok keyward.Token, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	until := now.Add(c.ttl)
	if !tok.Expires.IsZero() && tok.Expires.Before(until) {
		until = tok.Expires // an expiring token is not trusted past its end
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedTokens {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedTokens {
			clear(c.m)
		}
	}
	c.m[key] = cachedToken{tok: tok, until: until}
}

// drop forgets the token with that id at once (it was deleted here).
func (c *tokenCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.tok.ID == id {
			delete(c.m, k)
		}
	}
}
