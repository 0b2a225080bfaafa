package keyward

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/store"
)

// ErrUnauthorized is returned by VerifyToken for a malformed, unknown,
// revoked or expired token. It never says which.
var ErrUnauthorized = errors.New("keyward: invalid or expired token")

// Role is what a token may do.
type Role string

// The roles, from most to least powerful.
const (
	// RoleAdmin may do everything: tokens, maintenance, unlock, key
	// operations, and every database.
	RoleAdmin Role = "admin"
	// RoleWriter reads and writes entries and attachments and creates
	// databases.
	RoleWriter Role = "writer"
	// RoleReader reads entries and attachments.
	RoleReader Role = "reader"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleWriter, RoleReader:
		return r, nil
	}
	return "", invalid("role %q: use admin, writer or reader", s)
}

// Token describes an API token. The secret is not part of it: it is shown
// once, by CreateToken, and only a digest of it is stored.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Role      Role      `json:"role"`
	Databases []string  `json:"databases,omitempty"` // empty: every database
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"` // zero: never
}

// Allows reports whether the token may read (write false) or write the
// database named db. An admin token allows everything; a token limited to
// databases allows only those.
func (t Token) Allows(db string, write bool) bool {
	if t.Role == RoleAdmin {
		return true
	}
	if write && t.Role != RoleWriter {
		return false
	}
	return len(t.Databases) == 0 || slices.Contains(t.Databases, db)
}

// TokenSpec describes a token to create.
type TokenSpec struct {
	Name      string
	Role      Role
	Databases []string  // empty: every database
	Expires   time.Time // zero: never
}

// A token reads "kw_" + 16 base32 characters of ID + "_" + 43 base64url
// characters of secret (256 bits).
const (
	tokenPrefix    = "kw_"
	tokenIDBytes   = 10
	tokenIDLen     = 16
	tokenSecretLen = 32
)

var tokenIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// CreateToken creates an API token and returns its secret, which is shown
// this once: only a digest of it is stored. ErrSealed while sealed (a sealed
// deployment writes nothing).
func (kw *Keyward) CreateToken(ctx context.Context, spec TokenSpec) (secret string, t Token, err error) {
	if kw.Sealed() {
		return "", Token{}, kw.Audit(ctx, "token.create", "", fmt.Errorf("keyward: create token: %w", ErrSealed))
	}
	secret, t, err = createToken(ctx, kw.st, spec)
	target := "role " + string(spec.Role)
	if err == nil {
		target = "token " + t.ID + ", " + target
	}
	if err := kw.Audit(ctx, "token.create", target, err); err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

func createToken(ctx context.Context, st store.Store, spec TokenSpec) (secret string, t Token, err error) {
	if _, err := ParseRole(string(spec.Role)); err != nil {
		return "", Token{}, err
	}
	if spec.Name != "" {
		if err := checkText("token name", spec.Name, maxNameLen); err != nil {
			return "", Token{}, err
		}
	}
	for _, db := range spec.Databases {
		if err := checkDBName(db); err != nil {
			return "", Token{}, err
		}
	}
	if !spec.Expires.IsZero() && !spec.Expires.After(time.Now()) {
		return "", Token{}, invalid("token expiry %s is in the past", spec.Expires.Format(time.RFC3339))
	}
	idRaw := make([]byte, tokenIDBytes)
	mustRand(idRaw)
	id := tokenIDEncoding.EncodeToString(idRaw)
	raw := make([]byte, tokenSecretLen)
	mustRand(raw)
	defer clear(raw)
	stored, err := st.CreateToken(ctx, store.Token{
		ID: id, Name: spec.Name, Role: string(spec.Role), Databases: slices.Clone(spec.Databases),
		Hash: tokenHash(id, raw), Expires: spec.Expires,
	})
	if err != nil {
		return "", Token{}, err
	}
	return tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(raw), fromStoreToken(stored), nil
}

// Tokens lists the tokens, oldest first.
func (kw *Keyward) Tokens(ctx context.Context) ([]Token, error) {
	sts, err := kw.st.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Token, len(sts))
	for i, st := range sts {
		out[i] = fromStoreToken(st)
	}
	return out, nil
}

// DeleteToken revokes a token. ErrNotFound if there is none with that ID;
// ErrSealed while sealed.
func (kw *Keyward) DeleteToken(ctx context.Context, id string) error {
	return kw.Audit(ctx, "token.rm", "token "+id, kw.deleteToken(ctx, id))
}

func (kw *Keyward) deleteToken(ctx context.Context, id string) error {
	if kw.Sealed() {
		return fmt.Errorf("keyward: delete token: %w", ErrSealed)
	}
	if err := kw.st.DeleteToken(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keyward: no token %s (see `keyward token ls`): %w", id, ErrNotFound)
		}
		return err
	}
	return nil
}

// VerifyToken returns the token whose secret this is. Any malformed,
// unknown, revoked or expired secret gives ErrUnauthorized, without saying
// which. It works while sealed: tokens are digests, not ciphertexts.
func (kw *Keyward) VerifyToken(ctx context.Context, secret string) (Token, error) {
	id, raw, ok := parseToken(secret)
	if !ok {
		return Token{}, ErrUnauthorized
	}
	defer clear(raw)
	st, err := kw.st.Token(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, ErrUnauthorized
	}
	if err != nil {
		return Token{}, fmt.Errorf("keyward: verify token: %w", err)
	}
	if subtle.ConstantTimeCompare(tokenHash(id, raw), st.Hash) != 1 {
		return Token{}, ErrUnauthorized
	}
	if !st.Expires.IsZero() && !time.Now().Before(st.Expires) {
		return Token{}, ErrUnauthorized
	}
	return fromStoreToken(st), nil
}

// parseToken splits a token into its ID and secret bytes.
func parseToken(s string) (id string, raw []byte, ok bool) {
	rest, found := strings.CutPrefix(s, tokenPrefix)
	if !found || len(rest) != tokenIDLen+1+base64.RawURLEncoding.EncodedLen(tokenSecretLen) || rest[tokenIDLen] != '_' {
		return "", nil, false
	}
	id = rest[:tokenIDLen]
	if _, err := tokenIDEncoding.DecodeString(id); err != nil {
		return "", nil, false
	}
	// Strict: the last character carries 2 bits of the secret and 4 zero
	// bits; a lenient decoder would accept 16 spellings of one token.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest[tokenIDLen+1:])
	if err != nil || len(raw) != tokenSecretLen {
		return "", nil, false
	}
	return id, raw, true
}

// tokenHash is the stored digest of a token. The secret has 256 bits of
// entropy, so a fast hash is enough: there is nothing to brute-force.
func tokenHash(id string, raw []byte) []byte {
	h := sha256.New()
	h.Write([]byte("keyward/token/v1\x00"))
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(raw)
	return h.Sum(nil)
}

func fromStoreToken(st store.Token) Token {
	return Token{ID: st.ID, Name: st.Name, Role: Role(st.Role), Databases: st.Databases, Created: st.Created, Expires: st.Expires}
}
