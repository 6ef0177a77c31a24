// Package storetest is the conformance suite for tenants.Store: the memory
// store and every database-backed one must pass it unchanged. Ids and keys
// are unique per run so suites may share a database.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/switchboard-rt/switchboard/tenants"
)

func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Run runs the suite against the store open returns.
func Run(t *testing.T, open func(t *testing.T) tenants.Store) {
	ctx := context.Background()
	t.Run("put and find", func(t *testing.T) {
		s := open(t)
		a := tenants.NewApp(unique("id-"), unique("key-"), "secret")
		a.Keys = append(a.Keys, tenants.Key{Key: unique("key2-"), Secret: "secret2"})
		a.MaxConnections = 7
		if err := s.PutApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		for _, find := range []func() (*tenants.App, error){
			func() (*tenants.App, error) { return s.AppByID(ctx, a.ID) },
			func() (*tenants.App, error) { return s.AppByKey(ctx, a.Keys[0].Key) },
			func() (*tenants.App, error) { return s.AppByKey(ctx, a.Keys[1].Key) },
		} {
			got, err := find()
			if err != nil || got.ID != a.ID || got.MaxConnections != 7 || len(got.Keys) != 2 {
				t.Fatalf("%+v %v", got, err)
			}
		}
		if _, err := s.AppByID(ctx, unique("none-")); !errors.Is(err, tenants.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		if _, err := s.AppByKey(ctx, unique("none-")); !errors.Is(err, tenants.ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
	})
	t.Run("replace drops old keys", func(t *testing.T) {
		s := open(t)
		a := tenants.NewApp(unique("id-"), unique("key-"), "s")
		_ = s.PutApp(ctx, a)
		b := tenants.NewApp(a.ID, unique("key-"), "s2")
		if err := s.PutApp(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppByKey(ctx, a.Key()); !errors.Is(err, tenants.ErrNotFound) {
			t.Fatalf("old key still resolves: %v", err)
		}
		if got, _ := s.AppByKey(ctx, b.Key()); got == nil || got.Secret() != "s2" {
			t.Fatalf("new key: %+v", got)
		}
	})
	t.Run("a key belongs to one app", func(t *testing.T) {
		s := open(t)
		a := tenants.NewApp(unique("id-"), unique("key-"), "s")
		_ = s.PutApp(ctx, a)
		b := tenants.NewApp(unique("id-"), a.Key(), "s")
		if err := s.PutApp(ctx, b); !errors.Is(err, tenants.ErrConflict) {
			t.Fatalf("duplicate key: %v", err)
		}
	})
	t.Run("create if absent", func(t *testing.T) {
		s := open(t)
		a := tenants.NewApp(unique("id-"), unique("key-"), "s")
		if added, err := s.CreateAppIfAbsent(ctx, a); !added || err != nil {
			t.Fatalf("%v %v", added, err)
		}
		again := tenants.NewApp(a.ID, unique("key-"), "other")
		if added, _ := s.CreateAppIfAbsent(ctx, again); added {
			t.Fatal("same id added twice")
		}
		sameKey := tenants.NewApp(unique("id-"), a.Key(), "other")
		if added, _ := s.CreateAppIfAbsent(ctx, sameKey); added {
			t.Fatal("same key added twice")
		}
		if got, _ := s.AppByID(ctx, a.ID); got.Secret() != "s" {
			t.Fatal("existing app changed")
		}
	})
	t.Run("delete and list", func(t *testing.T) {
		s := open(t)
		x := tenants.NewApp(unique("id-b-"), unique("key-"), "s")
		y := tenants.NewApp(unique("id-a-"), unique("key-"), "s")
		_ = s.PutApp(ctx, x)
		_ = s.PutApp(ctx, y)
		apps, err := s.Apps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pos := map[string]int{}
		for i, a := range apps {
			pos[a.ID] = i
			if i > 0 && apps[i-1].ID > a.ID {
				t.Fatal("apps not sorted by id")
			}
		}
		if _, ok := pos[x.ID]; !ok {
			t.Fatal("missing app")
		}
		if err := s.DeleteApp(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppByKey(ctx, x.Key()); !errors.Is(err, tenants.ErrNotFound) {
			t.Fatal("deleted app's key resolves")
		}
		if err := s.DeleteApp(ctx, x.ID); !errors.Is(err, tenants.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}
