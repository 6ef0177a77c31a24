package tenants_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

// brokenFeed delivers nothing and breaks at once, as a feed whose
// connection drops does.
type brokenFeed struct {
	mu    sync.Mutex
	calls int
}

func (b *brokenFeed) Watch(context.Context, func(tenants.Change)) error {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	return errors.New("connection reset")
}

func TestDirectoryFollowBrokenFeedDropsEverything(t *testing.T) {
	s := tenants.NewMemoryStore()
	a := tenants.NewApp("1", "k1", "s1")
	if err := s.PutApp(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	d := tenants.NewDirectory(s, time.Hour)
	if _, err := d.AppByKey(t.Context(), "k1"); err != nil {
		t.Fatal(err)
	}
	// Change the store behind the directory's back: only a feed (or the
	// TTL) can tell it.
	b := *a
	b.Enabled = false
	if err := s.PutApp(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.AppByKey(t.Context(), "k1"); !got.Enabled {
		t.Fatal("precondition: the cache should still hold the enabled app")
	}
	all := make(chan struct{}, 100)
	d.OnChange(func(c tenants.Change) {
		if c.All {
			all <- struct{}{}
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	feed := &brokenFeed{}
	done := make(chan struct{})
	go func() { d.Follow(ctx, feed, nil); close(done) }()
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatal("a broken feed was not reported as Change{All}")
	}
	if got, _ := d.AppByKey(t.Context(), "k1"); got.Enabled {
		t.Fatal("the cache was not dropped when the feed broke")
	}
	cancel()
	<-done
}

func TestDirectoryRecordsKeyUse(t *testing.T) {
	s := tenants.NewMemoryStore()
	tn, _ := s.CreateTenant(t.Context(), "t", tenants.DefaultPlanID, "test")
	a, k, err := s.CreateApp(t.Context(), tn.ID, &tenants.App{Name: "a"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []time.Duration{0, time.Hour} {
		d := tenants.NewDirectory(s, ttl)
		if _, err := d.AppByKey(t.Context(), k.Key); err != nil {
			t.Fatal(err)
		}
		if _, err := d.AppByKey(t.Context(), "unknown"); !errors.Is(err, tenants.ErrNotFound) {
			t.Fatal(err)
		}
		if err := d.FlushKeyUsage(t.Context()); err != nil {
			t.Fatal(err)
		}
		ks, _ := s.Keys(t.Context(), tn.ID, a.ID)
		if ks[0].LastUsedAt == nil {
			t.Fatalf("ttl %s: last use not recorded", ttl)
		}
	}
	// The HTTP API reports uses with KeyUsed.
	k2, _ := s.CreateKey(t.Context(), tn.ID, a.ID, "test")
	d := tenants.NewDirectory(s, time.Hour)
	d.KeyUsed(k2.Key)
	if allocs := testing.AllocsPerRun(100, func() { d.KeyUsed(k2.Key) }); allocs != 0 {
		t.Errorf("KeyUsed allocates %v times per call", allocs)
	}
	if err := d.FlushKeyUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	ks, _ := s.Keys(t.Context(), tn.ID, a.ID)
	if ks[1].LastUsedAt == nil {
		t.Fatal("KeyUsed not flushed")
	}
}

// BenchmarkDirectory measures the hot-path lookups once cached: the edge
// calls AppByKey on every connect, the API AppByID on every request.
// Neither may allocate; see docs/performance.md for the figure.
func BenchmarkDirectory(b *testing.B) {
	s := tenants.NewMemoryStore()
	for i := range 1000 {
		id := string(rune('a'+i%26)) + time.Duration(i).String()
		if err := s.PutApp(context.Background(), tenants.NewApp(id, "key-"+id, "secret")); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.PutApp(context.Background(), tenants.NewApp("42", "the-key", "secret")); err != nil {
		b.Fatal(err)
	}
	d := tenants.NewDirectory(s, time.Hour)
	ctx := context.Background()
	b.Run("AppByKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.AppByKey(ctx, "the-key"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppByID", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.AppByID(ctx, "42"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppByKeyParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := d.AppByKey(ctx, "the-key"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
