package crypt

import (
	"encoding/binary"
	"math"
)

// adLabel starts every Context encoding. It names the encoding's version;
// a different encoding would get a different label.
const adLabel = "keyward/v1"

// Context binds a ciphertext to where it lives. A ciphertext sealed under
// one Context opens only under an identical Context; moving it to another
// record, database, deployment or purpose makes it fail with ErrAuth.
//
// Empty fields are allowed and encoded as such, but they bind nothing:
// callers should fill every field that has a meaning for the ciphertext.
type Context struct {
	Deployment string // deployment id
	Database   string // database id
	Record     string // record id (entry id, attachment id, "dek/3", "slot/2"...)
	Purpose    string // what the bytes are: "entry", "attachment", "dek", "root"...
}

// AD returns the canonical encoding of c: the label "keyward/v1", then
// Deployment, Database, Record and Purpose, each as a uint32 big-endian
// byte length followed by the bytes. Two different Contexts never encode
// the same. It panics if a field is longer than 2^32-1 bytes.
func (c Context) AD() []byte {
	return c.appendAD(make([]byte, 0, c.adLen()))
}

// adLen is len(c.AD()).
func (c Context) adLen() int {
	return len(adLabel) + 4*4 + len(c.Deployment) + len(c.Database) + len(c.Record) + len(c.Purpose)
}

// appendAD appends c.AD() to dst.
func (c Context) appendAD(dst []byte) []byte {
	dst = append(dst, adLabel...)
	for _, f := range [...]string{c.Deployment, c.Database, c.Record, c.Purpose} {
		if uint64(len(f)) > math.MaxUint32 {
			panic("crypt: Context field longer than 2^32-1 bytes")
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}
