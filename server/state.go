package server

import (
	"context"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// maintenanceCache reads the maintenance switch from the store at most once
// per ttl, so that servers sharing a store agree within ttl without a query
// per request. A switch made through this server is seen at once.
type maintenanceCache struct {
	kw  *keyward.Keyward
	ttl time.Duration

	mu  sync.Mutex
	val keyward.Maintenance
	at  time.Time // when val was read; zero: never
}

func newMaintenanceCache(kw *keyward.Keyward, ttl time.Duration) *maintenanceCache {
	return &maintenanceCache{kw: kw, ttl: ttl}
}

func (c *maintenanceCache) get(ctx context.Context) (keyward.Maintenance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !c.at.IsZero() && now.Sub(c.at) < c.ttl {
		return c.val, nil
	}
	m, err := c.kw.Maintenance(ctx)
	if err != nil {
		return keyward.Maintenance{}, err
	}
	c.val, c.at = m, now
	return m, nil
}

// cached returns the last value read, without asking the store (metrics).
func (c *maintenanceCache) cached() keyward.Maintenance {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.val
}

func (c *maintenanceCache) set(m keyward.Maintenance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.val, c.at = m, time.Now()
}

func toAPIMaintenance(m keyward.Maintenance) api.Maintenance {
	return api.Maintenance{Enabled: m.Enabled, Reason: m.Reason, Since: m.Since}
}

// maxIntegrityRecords bounds the integrity log: the oldest record goes.
const maxIntegrityRecords = 100

// integrityLog remembers the records that failed to decrypt, for the admin
// status: one item per entry and attachment, most recent last.
type integrityLog struct {
	max   int
	mu    sync.Mutex
	items []api.IntegrityFailure
}

func newIntegrityLog(max int) *integrityLog { return &integrityLog{max: max} }

func (l *integrityLog) add(ie *keyward.IntegrityError, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := api.IntegrityFailure{Database: ie.Database, Path: ie.Path, EntryID: ie.EntryID,
		Attachment: ie.Attachment, KeyVersion: ie.KeyVersion}
	for i, it := range l.items {
		if it.EntryID == f.EntryID && it.Attachment == f.Attachment {
			f.Count = it.Count
			l.items = append(l.items[:i], l.items[i+1:]...)
			break
		}
	}
	f.Count++
	f.Last = now.UTC()
	if len(l.items) >= l.max {
		l.items = l.items[1:]
	}
	l.items = append(l.items, f)
}

func (l *integrityLog) list() []api.IntegrityFailure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]api.IntegrityFailure(nil), l.items...)
}
