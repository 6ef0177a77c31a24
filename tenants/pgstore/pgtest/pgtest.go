// Package pgtest gives tests a PostgreSQL database of their own: created
// empty on the local server (or SWITCHBOARD_TEST_DATABASE_URL's), dropped
// when the test ends. Without a reachable server a test skips, except
// under CI=true, where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/tenants/pgstore"
)

// AdminURL is the server the databases are created on.
func AdminURL() string {
	if u := os.Getenv("SWITCHBOARD_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database for t and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sb_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close(ctx)
	})
	u, _ := url.Parse(AdminURL())
	u.Path = "/" + name
	return u.String()
}

// Keyring is a fixed sealing key for tests.
func Keyring(t testing.TB) *pgstore.Keyring {
	t.Helper()
	k, err := pgstore.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Migrate applies every migration to dbURL.
func Migrate(t testing.TB, dbURL string) {
	t.Helper()
	m, err := pgstore.NewMigrator(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Open returns a store on a fresh, migrated database, and its URL.
func Open(t testing.TB) (*pgstore.Store, string) {
	t.Helper()
	dbURL := NewDatabase(t)
	Migrate(t, dbURL)
	s, err := pgstore.Open(context.Background(), dbURL, Keyring(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, dbURL
}
