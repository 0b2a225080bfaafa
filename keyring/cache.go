package keyring

import (
	"sync"
	"time"
)

// primaryTTL bounds how long a cached "which version is primary" answer is
// trusted, so a rotation made by another process is picked up.
const primaryTTL = 10 * time.Second

// dekCache keeps unwrapped DEKs while they are used. A DEK idle for longer
// than the keyring's CacheIdle is dropped from the cache and wiped one idle
// period later, so a caller that fetched it just before eviction never
// holds wiped memory while it works.
type dekCache struct {
	k       *Keyring
	mu      sync.Mutex
	deks    map[dekID]*DEK
	grave   []*DEK // evicted, wiped at the next sweep
	primary map[string]primaryEntry
	gen     uint64 // bumped by forgetPrimary: an answer read before is stale
	done    chan struct{}
	once    sync.Once
}

type primaryEntry struct {
	version uint32
	at      time.Time
}

func newDEKCache(k *Keyring) *dekCache {
	c := &dekCache{k: k, deks: map[dekID]*DEK{}, primary: map[string]primaryEntry{}, done: make(chan struct{})}
	go c.sweeper(k.opts.CacheIdle)
	return c
}

func (c *dekCache) get(id dekID) *DEK {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.deks[id]
	if d != nil {
		d.lastUse.Store(time.Now().UnixNano())
	}
	return d
}

// put caches d unless another goroutine cached the same version first, in
// which case d is wiped and the cached one returned.
func (c *dekCache) put(id dekID, d *DEK) *DEK {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.deks[id]; old != nil {
		d.key.Wipe()
		old.lastUse.Store(time.Now().UnixNano())
		return old
	}
	d.lastUse.Store(time.Now().UnixNano())
	c.deks[id] = d
	return d
}

// forget evicts one DEK; it is wiped at the next sweep, like an idle one,
// so a caller that fetched it just before keeps valid memory meanwhile.
func (c *dekCache) forget(id dekID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.deks[id]; d != nil {
		delete(c.deks, id)
		c.grave = append(c.grave, d)
	}
}

func (c *dekCache) primaryVersion(db string) (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.primary[db]
	if !ok || time.Since(p.at) > primaryTTL {
		return 0, false
	}
	return p.version, true
}

// generation returns the current generation, to pass to setPrimary.
func (c *dekCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// setPrimary caches v as db's primary unless forgetPrimary ran since gen
// was read (the answer may predate a new primary).
func (c *dekCache) setPrimary(db string, v uint32, gen uint64) {
	c.mu.Lock()
	if c.gen == gen {
		c.primary[db] = primaryEntry{v, time.Now()}
	}
	c.mu.Unlock()
}

func (c *dekCache) forgetPrimary(db string) {
	c.mu.Lock()
	delete(c.primary, db)
	c.gen++
	c.mu.Unlock()
}

// sweep wipes the previous sweep's evictions and evicts idle DEKs.
func (c *dekCache) sweep(idle time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.grave {
		d.key.Wipe()
	}
	c.grave = c.grave[:0]
	cutoff := time.Now().Add(-idle).UnixNano()
	for id, d := range c.deks {
		if d.lastUse.Load() < cutoff {
			delete(c.deks, id)
			c.grave = append(c.grave, d)
		}
	}
}

// purge wipes everything now (on Seal).
func (c *dekCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, d := range c.deks {
		d.key.Wipe()
		delete(c.deks, id)
	}
	for _, d := range c.grave {
		d.key.Wipe()
	}
	c.grave = nil
	clear(c.primary)
}

func (c *dekCache) sweeper(idle time.Duration) {
	t := time.NewTicker(idle / 2)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.sweep(idle)
		case <-c.done:
			return
		}
	}
}

func (c *dekCache) stop() { c.once.Do(func() { close(c.done) }) }

// size returns the number of cached DEKs (for tests and status).
func (c *dekCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.deks)
}
