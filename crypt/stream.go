package crypt

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/keyward/keyward/secret"
)

// StreamFormat is the format byte of attachment streams.
const StreamFormat byte = 1

// ChunkSize is the number of plaintext bytes in every chunk of a stream but
// the last.
const ChunkSize = 64 << 10

// ChunkOverhead is how many bytes encryption adds to each chunk (the GCM tag).
const ChunkOverhead = 16

// StreamHeaderSize is the size of a stream header: format (1), key version
// (4) and a random 32-byte salt.
const StreamHeaderSize = 1 + 4 + 32

// MaxStreamSize is the largest plaintext a stream can hold: 2^32 chunks of
// ChunkSize bytes (256 TiB).
const MaxStreamSize int64 = (1 << 32) * ChunkSize

const (
	streamLabel      = "keyward/stream/v1"
	streamSaltSize   = 32
	streamPrefixSize = 7
	maxChunkIndex    = math.MaxUint32
)

var (
	errSealerClosed = errors.New("crypt: StreamSealer used after Close")
	errOpenerClosed = errors.New("crypt: StreamOpener used after Close")
)

// deriveStream returns the chunk AEAD and nonce prefix of the stream with
// the given header, for dek and c. The derived key bytes are wiped before it
// returns.
func deriveStream(dek *secret.Key, header []byte, c Context) (cipher.AEAD, [streamPrefixSize]byte, error) {
	var prefix [streamPrefixSize]byte
	okm, err := streamOKM(dek, header, c)
	if err != nil {
		return nil, prefix, err
	}
	defer clear(okm)
	aead, err := newGCM(okm[:KeySize])
	if err != nil {
		return nil, prefix, err
	}
	copy(prefix[:], okm[KeySize:])
	return aead, prefix, nil
}

// streamOKM returns subkey (32 bytes) || nonce prefix (7 bytes) =
// HKDF-SHA256(dek, salt = header[5:37], info = label || header || c.AD()).
// The caller must wipe it.
func streamOKM(dek *secret.Key, header []byte, c Context) ([]byte, error) {
	if dek == nil {
		return nil, errors.New("crypt: stream with a nil key")
	}
	if dek.Len() != KeySize {
		return nil, fmt.Errorf("crypt: stream key is %d bytes, want %d", dek.Len(), KeySize)
	}
	info := make([]byte, 0, len(streamLabel)+len(header)+c.adLen())
	info = append(info, streamLabel...)
	info = append(info, header...)
	info = c.appendAD(info)
	salt := header[1+4 : StreamHeaderSize]
	okm, err := hkdf.Key(sha256.New, dek.UnsafeBytes(), salt, string(info), KeySize+streamPrefixSize)
	if err != nil {
		return nil, fmt.Errorf("crypt: deriving the stream key: %w", err)
	}
	return okm, nil
}

// setChunkNonce writes chunk i's nonce into the last five bytes of nonce,
// whose first seven bytes hold the stream's prefix.
func setChunkNonce(nonce *[gcmNonceSize]byte, i uint32, last bool) {
	binary.BigEndian.PutUint32(nonce[streamPrefixSize:], i)
	nonce[gcmNonceSize-1] = 0
	if last {
		nonce[gcmNonceSize-1] = 1
	}
}

// StreamSealer encrypts one stream, chunk by chunk, in order. It is not safe
// for concurrent use. Most callers want NewWriter instead.
type StreamSealer struct {
	aead   cipher.AEAD // nil after Close
	header [StreamHeaderSize]byte
	nonce  [gcmNonceSize]byte // prefix, then the current counter and flag
	next   uint64             // index of the next chunk
	done   bool               // the last chunk was sealed
}

// NewStreamSealer starts a stream for dek (KeySize bytes, of the given key
// version) bound to c, with a random salt. Write Header() first, then every
// chunk from SealChunk in order.
func NewStreamSealer(dek *secret.Key, version uint32, c Context) (*StreamSealer, error) {
	var salt [streamSaltSize]byte
	rand.Read(salt[:]) // never returns an error; crashes the program if the OS RNG fails
	return newStreamSealerSalt(dek, version, c, salt[:])
}

// newStreamSealerSalt is NewStreamSealer with a given salt, for test vectors.
func newStreamSealerSalt(dek *secret.Key, version uint32, c Context, salt []byte) (*StreamSealer, error) {
	if len(salt) != streamSaltSize {
		panic("crypt: stream salt must be 32 bytes")
	}
	s := &StreamSealer{}
	s.header[0] = StreamFormat
	binary.BigEndian.PutUint32(s.header[1:5], version)
	copy(s.header[5:], salt)
	aead, prefix, err := deriveStream(dek, s.header[:], c)
	if err != nil {
		return nil, err
	}
	s.aead = aead
	copy(s.nonce[:], prefix[:])
	return s, nil
}

// Header returns a copy of the stream header (StreamHeaderSize bytes), which
// must precede the chunks.
func (s *StreamSealer) Header() []byte {
	return append([]byte(nil), s.header[:]...)
}

// SealChunk encrypts the next chunk and appends it to dst, returning the
// extended slice (len(plaintext)+ChunkOverhead bytes longer). As with
// cipher.AEAD, dst's spare capacity must not overlap plaintext unless dst is
// plaintext[:0].
//
// A chunk that is not last must hold exactly ChunkSize bytes; the last chunk
// holds 1..ChunkSize bytes, or 0 when it is the first (the empty stream).
// After the last chunk the stream is complete and SealChunk fails. SealChunk
// also fails rather than exceed 2^32 chunks. A failed call changes nothing.
func (s *StreamSealer) SealChunk(dst, plaintext []byte, last bool) ([]byte, error) {
	switch {
	case s.aead == nil:
		return nil, errSealerClosed
	case s.done:
		return nil, errors.New("crypt: SealChunk after the last chunk")
	case len(plaintext) > ChunkSize:
		return nil, fmt.Errorf("crypt: chunk of %d bytes, the maximum is %d", len(plaintext), ChunkSize)
	case !last && len(plaintext) != ChunkSize:
		return nil, fmt.Errorf("crypt: non-last chunk of %d bytes, want exactly %d", len(plaintext), ChunkSize)
	case len(plaintext) == 0 && s.next != 0:
		return nil, errors.New("crypt: empty last chunk after other chunks; mark the previous chunk last")
	case s.next > maxChunkIndex || (!last && s.next == maxChunkIndex):
		return nil, errors.New("crypt: stream longer than 2^32 chunks")
	}
	setChunkNonce(&s.nonce, uint32(s.next), last)
	out := s.aead.Seal(dst, s.nonce[:], plaintext, nil)
	s.next++
	s.done = last
	return out, nil
}

// Close forgets the stream key: the derived key bytes were already wiped
// when the sealer was made; Close drops the cipher and clears the nonce
// prefix. Later calls to SealChunk fail. Close may be called more than once.
func (s *StreamSealer) Close() {
	s.aead = nil
	clear(s.nonce[:])
}

// StreamKeyVersion returns the key version in a stream header, to pick the
// DEK. header holds at least the first StreamHeaderSize bytes of the stream;
// bytes after those are ignored. Nothing is authenticated here. It returns
// ErrFormat for a short header or an unknown format byte.
func StreamKeyVersion(header []byte) (uint32, error) {
	if len(header) == 0 {
		return 0, formatError("empty stream header")
	}
	if header[0] != StreamFormat {
		return 0, formatError("stream format %d, this keyward reads format %d", header[0], StreamFormat)
	}
	if len(header) < StreamHeaderSize {
		return 0, formatError("stream header is %d bytes, want %d", len(header), StreamHeaderSize)
	}
	return binary.BigEndian.Uint32(header[1:5]), nil
}

// StreamOpener decrypts the chunks of one stream, in any order. OpenChunk
// is safe for concurrent use; Close is not safe to call concurrently with it.
type StreamOpener struct {
	aead   cipher.AEAD // nil after Close
	prefix [streamPrefixSize]byte
}

// NewStreamOpener prepares to decrypt the stream whose header (exactly
// StreamHeaderSize bytes) is given, with dek and c. A wrong dek or Context is
// only detected when a chunk is opened. It returns ErrFormat for a malformed
// header.
func NewStreamOpener(dek *secret.Key, header []byte, c Context) (*StreamOpener, error) {
	if _, err := StreamKeyVersion(header); err != nil {
		return nil, err
	}
	if len(header) != StreamHeaderSize {
		return nil, formatError("stream header is %d bytes, want %d", len(header), StreamHeaderSize)
	}
	aead, prefix, err := deriveStream(dek, header, c)
	if err != nil {
		return nil, err
	}
	return &StreamOpener{aead: aead, prefix: prefix}, nil
}

// OpenChunk decrypts chunk index of the stream and appends the plaintext to
// dst. last must say whether the chunk is the stream's final one (the
// caller knows it from the stream's size). It returns ErrAuth when the chunk
// does not authenticate at that index with that last flag, and also rejects
// a non-last chunk that does not hold exactly ChunkSize bytes, a chunk
// larger than ChunkSize, and an empty last chunk at an index other than 0.
// It returns ErrFormat for an index beyond 2^32-1.
func (o *StreamOpener) OpenChunk(dst []byte, index uint64, ciphertext []byte, last bool) ([]byte, error) {
	if o.aead == nil {
		return nil, errOpenerClosed
	}
	if index > maxChunkIndex {
		return nil, formatError("chunk index %d beyond the 2^32 chunks a stream may hold", index)
	}
	n := len(ciphertext) - ChunkOverhead
	if n < 0 || n > ChunkSize || (!last && n != ChunkSize) || (last && n == 0 && index != 0) {
		return nil, ErrAuth
	}
	var nonce [gcmNonceSize]byte
	copy(nonce[:], o.prefix[:])
	setChunkNonce(&nonce, uint32(index), last)
	out, err := o.aead.Open(dst, nonce[:], ciphertext, nil)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// Close forgets the stream key (see StreamSealer.Close). Later calls to
// OpenChunk fail. Close may be called more than once.
func (o *StreamOpener) Close() {
	o.aead = nil
	clear(o.prefix[:])
}

// EncryptedSize returns the size of the stream (header included) that
// holds plain plaintext bytes. It panics if plain is negative or larger
// than MaxStreamSize.
func EncryptedSize(plain int64) int64 {
	if plain < 0 || plain > MaxStreamSize {
		panic("crypt: EncryptedSize of an impossible plaintext size")
	}
	chunks := max(1, (plain+ChunkSize-1)/ChunkSize)
	return StreamHeaderSize + plain + chunks*ChunkOverhead
}

// PlaintextSize returns the plaintext size of a stream of encrypted bytes
// (header included). It returns ErrFormat for a size no stream can have.
// The size is not authenticated until the last chunk has been opened.
func PlaintextSize(encrypted int64) (int64, error) {
	plain, _, err := streamLayout(encrypted)
	return plain, err
}

// streamLayout returns the plaintext size and the number of chunks of a
// stream of encrypted bytes.
func streamLayout(encrypted int64) (plain, chunks int64, err error) {
	if encrypted < StreamHeaderSize+ChunkOverhead {
		return 0, 0, formatError("stream of %d bytes, shorter than the minimum %d", encrypted, StreamHeaderSize+ChunkOverhead)
	}
	const full = ChunkSize + ChunkOverhead
	body := encrypted - StreamHeaderSize
	n, rem := body/full, body%full
	switch {
	case rem == 0:
		chunks, plain = n, n*ChunkSize
	case rem < ChunkOverhead, rem == ChunkOverhead && n > 0:
		return 0, 0, formatError("stream of %d bytes does not end on a chunk", encrypted)
	default:
		chunks, plain = n+1, n*ChunkSize+rem-ChunkOverhead
	}
	if chunks > maxChunkIndex+1 {
		return 0, 0, formatError("stream of %d bytes holds more than 2^32 chunks", encrypted)
	}
	return plain, chunks, nil
}
