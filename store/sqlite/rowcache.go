package sqlite

import (
	"bytes"
	"os"
	"slices"
	"sync"

	"github.com/keyward/keyward/store"
)

// The entry cache keeps recently read entry rows (ciphertext and metadata,
// never plaintext) so that a server answering many reads of the same
// entries does not run a SQLite query for each.
//
// A cached row is served only while the database has not changed since it
// was read, in this process or any other. The signal is the header of
// SQLite's WAL index (the -shm file beside the database, which every
// connection to a WAL database shares, whatever the process): every commit
// rewrites it (its change counter, frame count and checksums), and a
// checkpoint that restarts the log changes its salts. See "The WAL-index
// file format" in SQLite's documentation. The header is written twice in a
// row; a reader that finds the two copies different is looking at a commit
// in progress, and the cache is bypassed.
//
// The header is read with pread (one system call, about a microsecond),
// never mapped: a mapping of a file another process truncates would crash
// the server with SIGBUS.

// walIndexHeaderSize is the size of one copy of the WAL-index header.
const walIndexHeaderSize = 48

// changeToken is one reading of the WAL-index header.
type changeToken [walIndexHeaderSize]byte

// maxCachedEntries bounds the cache (about 300 B to a few KiB each).
const maxCachedEntries = 8192

type entryKey struct{ db, path string }

type entryCache struct {
	shm *os.File // the -shm file, read-only; nil: the cache is off

	mu   sync.Mutex
	tok  changeToken // the state the rows in m were read in
	rows map[entryKey]store.Entry
}

// openEntryCache opens the WAL index of the database at path. Without one
// (not WAL mode, or an unreadable file) the cache stays off.
func openEntryCache(path string) *entryCache {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return &entryCache{}
	}
	return &entryCache{shm: f, rows: map[entryKey]store.Entry{}}
}

// token reads the WAL-index header. ok is false if it cannot be read, is
// not initialised, or is being written.
func (c *entryCache) token() (tok changeToken, ok bool) {
	if c.shm == nil {
		return tok, false
	}
	var b [2 * walIndexHeaderSize]byte
	if n, err := c.shm.ReadAt(b[:], 0); n != len(b) || err != nil {
		return tok, false
	}
	first, second := b[:walIndexHeaderSize], b[walIndexHeaderSize:]
	const isInit = 12 // offset of the isInit byte
	if !bytes.Equal(first, second) || first[isInit] != 1 {
		return tok, false
	}
	copy(tok[:], first)
	return tok, true
}

// get returns a copy of the row cached for key if the database is still in
// state tok.
func (c *entryCache) get(tok changeToken, key entryKey) (store.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != tok {
		c.tok = tok
		clear(c.rows)
		return store.Entry{}, false
	}
	e, ok := c.rows[key]
	if !ok {
		return store.Entry{}, false
	}
	return cloneEntry(e), true
}

// put caches a copy of e, read after token tok was taken.
func (c *entryCache) put(tok changeToken, key entryKey, e store.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != tok {
		// The database changed since tok, or the cache holds rows of a
		// state this reading predates: either way e may be stale.
		return
	}
	if len(c.rows) >= maxCachedEntries {
		clear(c.rows)
	}
	c.rows[key] = cloneEntry(e)
}

func (c *entryCache) close() {
	if c.shm != nil {
		c.shm.Close()
	}
}

// cloneEntry copies the slices of e, so that a caller changing what it got
// cannot change the cache.
func cloneEntry(e store.Entry) store.Entry {
	e.Ciphertext = slices.Clone(e.Ciphertext)
	e.Tags = slices.Clone(e.Tags)
	return e
}
