package bundle

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/keyward/keyward/secret"
)

// payload is the JSON inside the age file.
type payload struct {
	Format       string      `json:"format"`
	Version      int         `json:"version"`
	DeploymentID string      `json:"deployment_id"`
	Created      time.Time   `json:"created"`
	Databases    []payloadDB `json:"databases"`
}

type payloadDB struct {
	Name string       `json:"name"`
	ID   string       `json:"id"`
	Keys []payloadKey `json:"keys"`
}

type payloadKey struct {
	Version    uint32    `json:"version"`
	State      string    `json:"state"`
	Created    time.Time `json:"created"`
	Key        string    `json:"key"`         // base64 (standard, padded) of the 32 key bytes
	CheckValue string    `json:"check_value"` // CheckValue(key)
}

// Write encrypts b to the recipients (at least one) and writes the age
// file to w, ASCII-armored if armored is true.
func Write(w io.Writer, b *Bundle, recipients []age.Recipient, armored bool) error {
	if len(recipients) == 0 {
		return errors.New("bundle: no recipient: give a passphrase or an age public key")
	}
	p := payload{Format: Format, Version: Version, DeploymentID: b.DeploymentID, Created: b.Created.UTC()}
	for _, db := range b.Databases {
		pdb := payloadDB{Name: db.Name, ID: db.ID, Keys: []payloadKey{}}
		for _, k := range db.Keys {
			if k.Key == nil || k.Key.Len() != KeySize {
				return fmt.Errorf("bundle: database %s key version %d: not a %d-byte key", db.Name, k.Version, KeySize)
			}
			pdb.Keys = append(pdb.Keys, payloadKey{
				Version: k.Version, State: k.State, Created: k.Created.UTC(),
				Key: base64.StdEncoding.EncodeToString(k.Key.UnsafeBytes()), CheckValue: CheckValue(k.Key),
			})
		}
		p.Databases = append(p.Databases, pdb)
	}
	text, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer clear(text)
	out := w
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(w)
		out = aw
	}
	ew, err := age.Encrypt(out, recipients...)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if _, err := ew.Write(append(text, '\n')); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	if err := ew.Close(); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			return fmt.Errorf("bundle: write: %w", err)
		}
	}
	return nil
}

// maxPayload bounds what Read decrypts: a million key versions fit.
const maxPayload = 256 << 20

// Read decrypts an export (armored or not) with the identities and checks
// it: the format and version, every key's size and check value. It returns
// ErrWrongSecret, ErrCorrupt, ErrCheckValue or ErrFormat (wrapped) and
// nothing else on bad input.
func Read(r io.Reader, identities []age.Identity) (*Bundle, error) {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if start, _ := br.Peek(len(armor.Header)); string(start) == armor.Header {
		in = armor.NewReader(br)
	}
	dr, err := age.Decrypt(in, identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) || strings.Contains(err.Error(), "incorrect passphrase") {
			return nil, ErrWrongSecret
		}
		return nil, fmt.Errorf("%w (%v)", ErrCorrupt, err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(dr, maxPayload+1))
	text := buf.Bytes()
	defer clear(text)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrCorrupt, err)
	}
	if n > maxPayload {
		return nil, fmt.Errorf("%w (payload over %d MiB)", ErrFormat, maxPayload>>20)
	}
	return parse(text)
}

// parse checks and converts a decrypted payload.
func parse(text []byte) (*Bundle, error) {
	var p payload
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrFormat, err)
	}
	defer func() {
		for _, db := range p.Databases {
			for i := range db.Keys {
				db.Keys[i].Key = ""
			}
		}
	}()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w (data after the JSON object)", ErrFormat)
	}
	if p.Format != Format {
		return nil, fmt.Errorf("%w (format %q)", ErrFormat, p.Format)
	}
	if p.Version < 1 || p.Version > Version {
		return nil, fmt.Errorf("%w (format version %d; this build reads up to %d: upgrade keyward)", ErrFormat, p.Version, Version)
	}
	if p.DeploymentID == "" {
		return nil, fmt.Errorf("%w (no deployment id)", ErrFormat)
	}
	b := &Bundle{DeploymentID: p.DeploymentID, Created: p.Created}
	for _, pdb := range p.Databases {
		if pdb.Name == "" || pdb.ID == "" {
			b.Wipe()
			return nil, fmt.Errorf("%w (a database without name or id)", ErrFormat)
		}
		db := Database{Name: pdb.Name, ID: pdb.ID}
		seen := map[uint32]bool{}
		for _, pk := range pdb.Keys {
			if pk.Version == 0 || seen[pk.Version] {
				b.Wipe()
				return nil, fmt.Errorf("%w (database %s: key version %d missing or repeated)", ErrFormat, pdb.Name, pk.Version)
			}
			seen[pk.Version] = true
			raw, err := base64.StdEncoding.DecodeString(pk.Key)
			if err != nil || len(raw) != KeySize {
				clear(raw)
				b.Wipe()
				return nil, fmt.Errorf("%w (database %s key version %d: not a base64 %d-byte key)", ErrFormat, pdb.Name, pk.Version, KeySize)
			}
			k := secret.FromBytes(raw) // wipes raw
			if CheckValue(k) != pk.CheckValue {
				k.Wipe()
				b.Wipe()
				return nil, fmt.Errorf("%w (database %s key version %d)", ErrCheckValue, pdb.Name, pk.Version)
			}
			db.Keys = append(db.Keys, Key{Version: pk.Version, State: pk.State, Created: pk.Created, Key: k})
		}
		b.Databases = append(b.Databases, db)
	}
	return b, nil
}
