package tenants

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Directory is how the edge and the API find apps: lookups by key or id
// served from an in-process cache so that a connect or publish never waits
// on the database. Entries expire after TTL, so a change made on another
// node is seen within it; Invalidate drops one at once.
type Directory struct {
	store Store
	ttl   time.Duration
	now   func() time.Time

	mu    sync.RWMutex
	byID  map[string]cached
	byKey map[string]cached
}

type cached struct {
	app     *App
	err     error
	expires time.Time
}

// DefaultDirectoryTTL bounds how stale a cached app may be.
const DefaultDirectoryTTL = 2 * time.Second

// NewDirectory caches lookups in store for ttl; a ttl of 0 disables the
// cache (right for the memory store, which is already in process).
func NewDirectory(store Store, ttl time.Duration) *Directory {
	return &Directory{store: store, ttl: ttl, now: time.Now, byID: map[string]cached{}, byKey: map[string]cached{}}
}

// Store returns the store behind the directory.
func (d *Directory) Store() Store { return d.store }

// AppByKey finds an app by one of its public keys.
func (d *Directory) AppByKey(ctx context.Context, key string) (*App, error) {
	return d.lookup(ctx, d.byKey, key, d.store.AppByKey)
}

// AppByID finds an app by id.
func (d *Directory) AppByID(ctx context.Context, id string) (*App, error) {
	return d.lookup(ctx, d.byID, id, d.store.AppByID)
}

func (d *Directory) lookup(ctx context.Context, m map[string]cached, k string, load func(context.Context, string) (*App, error)) (*App, error) {
	if d.ttl <= 0 {
		return load(ctx, k)
	}
	now := d.now()
	d.mu.RLock()
	c, ok := m[k]
	d.mu.RUnlock()
	if ok && now.Before(c.expires) {
		return c.app, c.err
	}
	app, err := load(ctx, k)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err // backend trouble is not cached
	}
	d.mu.Lock()
	if len(m) > 100_000 {
		clear(m) // bound memory against lookups of random keys
	}
	m[k] = cached{app: app, err: err, expires: now.Add(d.ttl)}
	d.mu.Unlock()
	return app, err
}

// Invalidate drops every cached entry, so the next lookups see the store.
func (d *Directory) Invalidate() {
	d.mu.Lock()
	clear(d.byID)
	clear(d.byKey)
	d.mu.Unlock()
}
