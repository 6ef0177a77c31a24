package tenants

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Directory is how the edge and the API find apps: lookups by key or id
// served from an in-process cache so that a connect or publish never waits
// on the database. Follow drops entries as soon as a ChangeFeed reports a
// change; entries also expire after TTL, a safety net for a feed that
// broke unnoticed. Invalidate drops everything at once.
//
// The Directory also records when each key was last used, in memory, for
// FlushKeyUsage to hand to the store in batches.
type Directory struct {
	store Store
	ttl   time.Duration
	now   func() time.Time

	mu    sync.RWMutex
	gen   uint64 // bumped by every invalidation; a load from before one is not cached
	byID  map[string]cached
	byKey map[string]cached

	umu   sync.RWMutex
	usage map[string]*atomic.Int64 // key → unix seconds of its last use not yet flushed

	hmu      sync.Mutex
	onChange []func(Change)
}

type cached struct {
	app     *App
	err     error
	expires time.Time
	used    *atomic.Int64 // key entries of found apps: the key's usage cell
}

// DefaultDirectoryTTL bounds how stale a cached app may be when no feed is
// followed.
const DefaultDirectoryTTL = 2 * time.Second

// NewDirectory caches lookups in store for ttl; a ttl of 0 disables the
// cache (right for the memory store, which is already in process).
func NewDirectory(store Store, ttl time.Duration) *Directory {
	return &Directory{store: store, ttl: ttl, now: time.Now, byID: map[string]cached{}, byKey: map[string]cached{}, usage: map[string]*atomic.Int64{}}
}

// Store returns the store behind the directory.
func (d *Directory) Store() Store { return d.store }

// AppByKey finds an app by one of its active public keys, and records the
// key's use.
func (d *Directory) AppByKey(ctx context.Context, key string) (*App, error) {
	if d.ttl <= 0 {
		app, err := d.store.AppByKey(ctx, key)
		if err == nil {
			markUsed(d.usageCell(key), d.now().Unix())
		}
		return app, err
	}
	now := d.now()
	d.mu.RLock()
	c, ok := d.byKey[key]
	d.mu.RUnlock()
	if ok && now.Before(c.expires) {
		if c.used != nil {
			markUsed(c.used, now.Unix())
		}
		return c.app, c.err
	}
	stale, hadStale := c, ok
	c, err := d.load(ctx, true, key, now, d.store.AppByKey)
	if err != nil {
		if hadStale {
			return stale.app, stale.err // stale if error: see Invalidate
		}
		return nil, err
	}
	if c.used != nil {
		markUsed(c.used, now.Unix())
	}
	return c.app, c.err
}

// AppByID finds an app by id.
func (d *Directory) AppByID(ctx context.Context, id string) (*App, error) {
	if d.ttl <= 0 {
		return d.store.AppByID(ctx, id)
	}
	now := d.now()
	d.mu.RLock()
	c, ok := d.byID[id]
	d.mu.RUnlock()
	if ok && now.Before(c.expires) {
		return c.app, c.err
	}
	stale, hadStale := c, ok
	c, err := d.load(ctx, false, id, now, d.store.AppByID)
	if err != nil {
		if hadStale {
			return stale.app, stale.err
		}
		return nil, err
	}
	return c.app, c.err
}

// load reads k from the store and caches the answer unless the cache was
// invalidated meanwhile (the answer may predate the change).
func (d *Directory) load(ctx context.Context, byKey bool, k string, now time.Time, load func(context.Context, string) (*App, error)) (cached, error) {
	d.mu.RLock()
	gen := d.gen
	d.mu.RUnlock()
	app, err := load(ctx, k)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return cached{}, err // backend trouble is not cached
	}
	c := cached{app: app, err: err, expires: now.Add(d.ttl)}
	if err == nil && byKey {
		c.used = d.usageCell(k)
	}
	d.mu.Lock()
	m := d.byID
	if byKey {
		m = d.byKey
	}
	if d.gen == gen {
		if len(m) > 100_000 {
			clear(m) // bound memory against lookups of random keys
		}
		m[k] = c
	}
	d.mu.Unlock()
	return c, nil
}

func (d *Directory) usageCell(key string) *atomic.Int64 {
	d.umu.RLock()
	p := d.usage[key]
	d.umu.RUnlock()
	if p != nil {
		return p
	}
	d.umu.Lock()
	defer d.umu.Unlock()
	if p = d.usage[key]; p == nil {
		p = new(atomic.Int64)
		d.usage[key] = p
	}
	return p
}

// KeyUsed records a use of key that did not go through AppByKey (the HTTP
// API finds apps by id, then checks the request's key); FlushKeyUsage
// hands it to the store. It allocates only on a key's first use.
func (d *Directory) KeyUsed(key string) {
	markUsed(d.usageCell(key), d.now().Unix())
}

// markUsed stores the second of a use, writing only when it changed: on
// a busy key every core would otherwise dirty the same cache line on
// every lookup.
func markUsed(p *atomic.Int64, sec int64) {
	if p.Load() != sec {
		p.Store(sec)
	}
}

// Invalidate expires every cached entry, so the next lookups read the
// store.
//
// Expired entries are kept, not deleted (staleIfError): when the store
// cannot answer — the database is down, which is also when the feed
// breaks and everything is invalidated — a lookup returns the last known
// app instead of refusing every connect and request until the database
// is back. With the database up, an expired entry is never served.
func (d *Directory) Invalidate() {
	d.mu.Lock()
	d.gen++
	for _, m := range []map[string]cached{d.byID, d.byKey} {
		for k, c := range m {
			c.expires = time.Time{}
			m[k] = c
		}
	}
	d.mu.Unlock()
}

// invalidate drops what a change touched: the apps it names (under every
// id and key) and every negative entry, since a new key or app may now
// exist.
func (d *Directory) invalidate(ch Change) {
	if ch.All {
		d.Invalidate()
		return
	}
	d.mu.Lock()
	d.gen++
	for _, m := range []map[string]cached{d.byID, d.byKey} {
		for k, c := range m {
			if c.app == nil || ch.Touches(c.app.ID) {
				c.expires = time.Time{} // kept for staleIfError, see Invalidate
				m[k] = c
			}
		}
	}
	d.mu.Unlock()
}

// OnChange registers f to run after each change Follow has applied to the
// cache (so f's own lookups see the new state). f runs on Follow's
// goroutine and must not block for long.
func (d *Directory) OnChange(f func(Change)) {
	d.hmu.Lock()
	d.onChange = append(d.onChange, f)
	d.hmu.Unlock()
}

// Follow applies the changes of feed until ctx ends. When the feed breaks
// it drops everything (changes may have been missed), reports Change{All}
// to the OnChange funcs and watches again after a backoff of up to 5 s.
func (d *Directory) Follow(ctx context.Context, feed ChangeFeed, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	apply := func(ch Change) {
		d.invalidate(ch)
		d.hmu.Lock()
		fs := d.onChange
		d.hmu.Unlock()
		for _, f := range fs {
			f(ch)
		}
	}
	backoff := 100 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		started := time.Now()
		err := feed.Watch(ctx, apply)
		if ctx.Err() != nil {
			return
		}
		apply(Change{All: true})
		if time.Since(started) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		log.Warn("change feed broke; cache dropped, watching again", "err", err, "retry_in", backoff)
		t.Reset(backoff)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// KeyUsageFlushInterval is how often RunKeyUsage hands key use to the
// store: last-used is for humans, to the half minute is plenty.
const KeyUsageFlushInterval = 30 * time.Second

// FlushKeyUsage hands the key uses recorded since the last flush to the
// store's MarkKeysUsed.
func (d *Directory) FlushKeyUsage(ctx context.Context) error {
	used := map[string]time.Time{}
	d.umu.RLock()
	for k, p := range d.usage {
		if s := p.Swap(0); s != 0 {
			used[k] = time.Unix(s, 0).UTC()
		}
	}
	d.umu.RUnlock()
	if len(used) == 0 {
		return nil
	}
	return d.store.MarkKeysUsed(ctx, used)
}

// RunKeyUsage flushes key use every interval (KeyUsageFlushInterval when
// 0) until ctx ends, then once more with a fresh context of 5 s.
func (d *Directory) RunKeyUsage(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = KeyUsageFlushInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := d.FlushKeyUsage(fctx); err != nil && log != nil {
				log.Warn("key last-used not saved", "err", err)
			}
			return
		case <-t.C:
			if err := d.FlushKeyUsage(ctx); err != nil && log != nil {
				log.Warn("key last-used not saved", "err", err)
			}
		}
	}
}
