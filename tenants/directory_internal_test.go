package tenants

// Internal so the tests can drive the Directory's clock (the unexported
// now field) instead of waiting for real TTLs to pass.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// countingStore counts loads and can fail or wrap its answers, as a
// database-backed store would.
type countingStore struct {
	*MemoryStore
	mu           sync.Mutex
	loads        int
	fail         error // returned by every load while set
	wrapNotFound bool  // wrap ErrNotFound as an adapter does
}

func (s *countingStore) load(app *App, err error) (*App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.fail != nil {
		return nil, s.fail
	}
	if s.wrapNotFound && errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("teststore: %w", err)
	}
	return app, err
}

func (s *countingStore) AppByID(ctx context.Context, id string) (*App, error) {
	return s.load(s.MemoryStore.AppByID(ctx, id))
}

func (s *countingStore) AppByKey(ctx context.Context, key string) (*App, error) {
	return s.load(s.MemoryStore.AppByKey(ctx, key))
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// fixture is a directory over a counting store with a clock the test
// moves by hand.
type fixture struct {
	t     *testing.T
	store *countingStore
	dir   *Directory
	clock time.Time
}

func newFixture(t *testing.T, ttl time.Duration) *fixture {
	f := &fixture{t: t, store: &countingStore{MemoryStore: NewMemoryStore()}, clock: time.Unix(1_700_000_000, 0)}
	f.dir = NewDirectory(f.store, ttl)
	f.dir.now = func() time.Time { return f.clock }
	return f
}

func (f *fixture) put(id, key, secret string) {
	f.t.Helper()
	if err := f.store.PutApp(context.Background(), NewApp(id, key, secret)); err != nil {
		f.t.Fatal(err)
	}
}

// secretByKey looks key up and returns the app's secret, or the error.
func (f *fixture) secretByKey(key string) string {
	f.t.Helper()
	a, err := f.dir.AppByKey(context.Background(), key)
	if err != nil {
		return err.Error()
	}
	return a.Secret()
}

func (f *fixture) secretByID(id string) string {
	f.t.Helper()
	a, err := f.dir.AppByID(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	return a.Secret()
}

func (f *fixture) wantLoads(n int) {
	f.t.Helper()
	if got := f.store.count(); got != n {
		f.t.Fatalf("%d store loads, want %d", got, n)
	}
}

func TestDirectoryCachesForTTL(t *testing.T) {
	f := newFixture(t, 2*time.Second)
	f.put("a", "k", "v1")
	if got := f.secretByKey("k"); got != "v1" {
		t.Fatal(got)
	}
	f.wantLoads(1)
	f.put("a", "k", "v2")
	f.clock = f.clock.Add(2*time.Second - time.Nanosecond)
	if got := f.secretByKey("k"); got != "v1" {
		t.Fatalf("within the TTL: %s, want the cached v1", got)
	}
	f.wantLoads(1)
	f.clock = f.clock.Add(time.Nanosecond)
	if got := f.secretByKey("k"); got != "v2" {
		t.Fatalf("at the TTL: %s, want the store's v2", got)
	}
	f.wantLoads(2)
	if got := f.secretByKey("k"); got != "v2" {
		t.Fatal(got)
	}
	f.wantLoads(2)
}

func TestDirectoryIDAndKeyCachedApart(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.put("a", "k", "v1")
	f.secretByKey("k")
	f.put("a", "k", "v2")
	if got := f.secretByID("a"); got != "v2" {
		t.Fatalf("first lookup by id: %s, want v2 from the store", got)
	}
	if got := f.secretByKey("k"); got != "v1" {
		t.Fatalf("lookup by key: %s, want the cached v1", got)
	}
	f.wantLoads(2)
}

func TestDirectoryCachesNotFound(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrapped=%v", wrap), func(t *testing.T) {
			f := newFixture(t, time.Minute)
			f.store.wrapNotFound = wrap
			for range 3 {
				if _, err := f.dir.AppByKey(context.Background(), "k"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("unknown key: %v, want ErrNotFound", err)
				}
			}
			// Random keys from clients must not reach the database each time.
			f.wantLoads(1)
			f.put("a", "k", "v1")
			if _, err := f.dir.AppByKey(context.Background(), "k"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("within the TTL: %v, want the cached ErrNotFound", err)
			}
			f.clock = f.clock.Add(time.Minute)
			if got := f.secretByKey("k"); got != "v1" {
				t.Fatalf("after the TTL: %s", got)
			}
		})
	}
}

func TestDirectoryDoesNotCacheBackendErrors(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.put("a", "k", "v1")
	down := errors.New("connection refused")
	f.store.fail = down
	if _, err := f.dir.AppByKey(context.Background(), "k"); !errors.Is(err, down) {
		t.Fatalf("err %v, want the store's", err)
	}
	f.store.fail = nil
	if got := f.secretByKey("k"); got != "v1" {
		t.Fatalf("after the store recovered: %s", got)
	}
	f.wantLoads(2)
}

func TestDirectoryInvalidate(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.put("a", "k", "v1")
	f.secretByKey("k")
	f.secretByID("a")
	_, _ = f.dir.AppByKey(context.Background(), "unknown") // caches ErrNotFound
	f.put("a", "k", "v2")
	f.put("b", "unknown", "v3")
	f.dir.Invalidate()
	if got := f.secretByKey("k"); got != "v2" {
		t.Fatalf("by key after Invalidate: %s", got)
	}
	if got := f.secretByID("a"); got != "v2" {
		t.Fatalf("by id after Invalidate: %s", got)
	}
	if got := f.secretByKey("unknown"); got != "v3" {
		t.Fatalf("cached not-found after Invalidate: %s", got)
	}
}

func TestDirectoryTTLZeroReadsThrough(t *testing.T) {
	f := newFixture(t, 0)
	f.put("a", "k", "v1")
	f.secretByKey("k")
	f.put("a", "k", "v2")
	if got := f.secretByKey("k"); got != "v2" {
		t.Fatalf("ttl 0: %s, want the store's v2", got)
	}
	if _, err := f.dir.AppByID(context.Background(), "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	f.put("missing", "k2", "v3")
	if got := f.secretByID("missing"); got != "v3" {
		t.Fatalf("ttl 0 cached a not-found: %s", got)
	}
	f.wantLoads(4)
	if len(f.dir.byID) != 0 || len(f.dir.byKey) != 0 {
		t.Fatal("ttl 0 filled the cache")
	}
	if f.dir.Store() != Store(f.store) {
		t.Fatal("Store() is not the store given")
	}
}

func TestDirectoryBoundsItsCache(t *testing.T) {
	f := newFixture(t, time.Hour)
	for i := range 100_010 {
		_, _ = f.dir.AppByKey(context.Background(), fmt.Sprint("random-", i))
	}
	if n := len(f.dir.byKey); n > 100_001 {
		t.Fatalf("%d cached keys after lookups of random ones", n)
	}
}

// TestDirectoryConcurrent is for -race: lookups, expiry and Invalidate at
// once.
func TestDirectoryConcurrent(t *testing.T) {
	s := NewMemoryStore()
	if err := s.PutApp(context.Background(), NewApp("a", "k", "s")); err != nil {
		t.Fatal(err)
	}
	d := NewDirectory(s, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				switch {
				case g == 0 && i%50 == 0:
					d.Invalidate()
				case i%2 == 0:
					if a, err := d.AppByKey(context.Background(), "k"); err != nil || a.ID != "a" {
						t.Errorf("AppByKey: %v %v", a, err)
						return
					}
				default:
					if _, err := d.AppByID(context.Background(), fmt.Sprint("none-", i%7)); !errors.Is(err, ErrNotFound) {
						t.Errorf("AppByID: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestDirectoryStaleIfError: with the store down, an expired or
// invalidated entry is served rather than refusing the lookup; with the
// store up it never is.
func TestDirectoryStaleIfError(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.put("a", "k", "v1")
	f.secretByKey("k")
	f.secretByID("a")
	down := errors.New("connection refused")
	for name, expire := range map[string]func(){
		"invalidated": f.dir.Invalidate,
		"expired":     func() { f.clock = f.clock.Add(time.Minute) },
		"changed":     func() { f.dir.invalidate(Change{AppIDs: []string{"a"}}) },
	} {
		expire()
		f.store.fail = down
		if got := f.secretByKey("k"); got != "v1" {
			t.Fatalf("%s, store down: by key %s, want the stale v1", name, got)
		}
		if got := f.secretByID("a"); got != "v1" {
			t.Fatalf("%s, store down: by id %s, want the stale v1", name, got)
		}
		if _, err := f.dir.AppByKey(context.Background(), "never-seen"); !errors.Is(err, down) {
			t.Fatalf("%s: a key never cached: %v, want the store's error", name, err)
		}
		f.store.fail = nil
	}
	f.put("a", "k", "v2")
	f.dir.Invalidate()
	if got := f.secretByKey("k"); got != "v2" {
		t.Fatalf("store up again: %s, want v2", got)
	}
}
