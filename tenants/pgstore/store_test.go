package pgstore_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
	"github.com/switchboard-rt/switchboard/tenants/pgstore/pgtest"
	"github.com/switchboard-rt/switchboard/tenants/storetest"
)

var (
	adminURL    = pgtest.AdminURL
	newDatabase = pgtest.NewDatabase
	testKeyring = pgtest.Keyring
	migrate     = pgtest.Migrate
	openStore   = pgtest.Open
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tenants.Store {
		s, _ := openStore(t)
		return s
	})
}

func TestMigrationsUpAndDown(t *testing.T) {
	ctx := context.Background()
	dbURL := newDatabase(t)
	m, err := pgstore.NewMigrator(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tables := func() []string {
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, _ := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'goose_db_version' ORDER BY 1`)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	for round := range 2 {
		res, err := m.Up(ctx)
		if err != nil {
			t.Fatalf("round %d: up: %v", round, err)
		}
		if len(res) != len(m.ListSources()) {
			t.Fatalf("round %d: applied %d migrations, want %d", round, len(res), len(m.ListSources()))
		}
		if got := strings.Join(tables(), ","); got != "api_tokens,app_keys,app_webhooks,apps,audit_log,billing_accounts,billing_contacts,billing_notifications,plans,sessions,tenants,usage_daily,usage_node_hourly,users" {
			t.Fatalf("round %d: tables after up: %s", round, got)
		}
		if pending, err := m.HasPending(ctx); err != nil || pending {
			t.Fatalf("pending after up: %v %v", pending, err)
		}
		// Versions have gaps (00010 follows 00003), so count files, not numbers.
		for range m.ListSources() {
			if _, err := m.Down(ctx); err != nil {
				t.Fatalf("round %d: down: %v", round, err)
			}
		}
		if got := tables(); len(got) != 0 {
			t.Fatalf("round %d: tables left after every down: %v", round, got)
		}
		if v, _ := m.GetDBVersion(ctx); v != 0 {
			t.Fatalf("version %d after every down", v)
		}
	}
}

func TestOpenNeedsMigrations(t *testing.T) {
	dbURL := newDatabase(t)
	_, err := pgstore.Open(context.Background(), dbURL, testKeyring(t))
	if !errors.Is(err, pgstore.ErrSchemaOutdated) || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("Open on an empty database: %v", err)
	}
	// The refused Open left the database as it was: no goose table.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("%d tables after a refused Open (%v)", tables, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pgstore.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", testKeyring(t))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the database") {
		t.Fatalf("Open of an unreachable database: %v", err)
	}
	_, err = pgstore.Open(ctx, "postgres://postgres@127.0.0.1:5432/x", nil)
	if !errors.Is(err, pgstore.ErrNoSecretKey) {
		t.Fatalf("Open without a keyring: %v", err)
	}
}

// TestNoPlaintextInDump writes every kind of secret the control plane
// knows, then reads every row of every table as text, as a dump would,
// and looks for each secret.
func TestNoPlaintextInDump(t *testing.T) {
	ctx := context.Background()
	s, dbURL := openStore(t)
	var secrets []string
	tn, err := s.CreateTenant(ctx, "Dumped", "pro", "test")
	if err != nil {
		t.Fatal(err)
	}
	a, k, err := s.CreateApp(ctx, tn.ID, &tenants.App{Name: "dumped"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := s.CreateKey(ctx, tn.ID, a.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, tn.ID, a.ID, k.Key, "test"); err != nil {
		t.Fatal(err)
	}
	_, tok, err := s.CreateToken(ctx, tn.ID, "ci", "test")
	if err != nil {
		t.Fatal(err)
	}
	fileApp := tenants.NewApp("file-app", "file-key", "file-app-secret-value")
	if _, err := s.CreateAppIfAbsent(ctx, fileApp); err != nil {
		t.Fatal(err)
	}
	put := tenants.NewApp("put-app", "put-key", "put-app-secret-value")
	if err := s.PutApp(ctx, put); err != nil {
		t.Fatal(err)
	}
	upd := *a
	upd.Name = "renamed"
	if _, err := s.UpdateApp(ctx, tn.ID, &upd, "test"); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, k.Secret, k2.Secret, tok, strings.TrimPrefix(tok, tenants.TokenPrefix), "file-app-secret-value", "put-app-secret-value")

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, table := range names {
		rows, _ := conn.Query(ctx, fmt.Sprintf(`SELECT t::text FROM %s t`, pgx.Identifier{table}.Sanitize()))
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			dump.WriteString(table + ": " + l + "\n")
		}
	}
	text := dump.String()
	if !strings.Contains(text, k2.Key) || !strings.Contains(text, "file-key") {
		t.Fatal("the dump misses the public keys; is it reading the tables?")
	}
	for _, secret := range secrets {
		for _, form := range []string{secret, hex.EncodeToString([]byte(secret))} {
			if strings.Contains(text, form) {
				t.Fatalf("a secret (%.6s…) is in the dump", secret)
			}
		}
	}
}

func TestKeyringRotation(t *testing.T) {
	ctx := context.Background()
	s, dbURL := openStore(t)
	_, k, err := s.CreateApp(ctx, tenants.DefaultTenantID, &tenants.App{Name: "rotated"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	b64 := encode
	oldKey, newKey := b64("0123456789abcdef0123456789abcdef"), b64("fedcba9876543210fedcba9876543210")

	// The new key alone cannot open the old secrets, and says why.
	only, _ := pgstore.ParseKeyring(newKey, nil)
	s2, err := pgstore.Open(ctx, dbURL, only)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.AppByKey(ctx, k.Key); err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET_KEYS_PREVIOUS") {
		t.Fatalf("AppByKey without the old key: %v", err)
	}
	both, err := pgstore.ParseKeyring(newKey, []string{oldKey})
	if err != nil {
		t.Fatal(err)
	}
	s3, err := pgstore.Open(ctx, dbURL, both)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if a, err := s3.AppByKey(ctx, k.Key); err != nil || a.Secret() != k.Secret {
		t.Fatalf("AppByKey with the old key as previous: %v", err)
	}
	n, err := s3.Reseal(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Reseal: %d, %v", n, err)
	}
	if n, _ := s3.Reseal(ctx); n != 0 {
		t.Fatalf("a second Reseal resealed %d", n)
	}
	if a, err := s2.AppByKey(ctx, k.Key); err != nil || a.Secret() != k.Secret {
		t.Fatalf("AppByKey with the new key only, after Reseal: %v", err)
	}
	for _, bad := range []string{"", "not base64!", encode("short")} {
		if _, err := pgstore.ParseKeyring(bad, nil); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", bad)
		}
	}
}

// TestFeedSurvivesBrokenConnection kills the LISTEN connection: the
// Directory must drop its cache and pick up the feed again.
func TestFeedSurvivesBrokenConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, dbURL := openStore(t)
	dir := tenants.NewDirectory(s, time.Hour)
	alls := make(chan struct{}, 100)
	dir.OnChange(func(c tenants.Change) {
		if c.All {
			alls <- struct{}{}
		}
	})
	done := make(chan struct{})
	go func() { dir.Follow(ctx, s, nil); close(done) }()
	defer func() { cancel(); <-done }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-alls:
		case <-time.After(20 * time.Second):
			t.Fatalf("no Change{All} after %s", what)
		}
	}
	wait("start")
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed bool
	if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listener: %v %v", killed, err)
	}
	wait("the broken feed")
	wait("the feed restarting")
	// Changes flow again.
	a, k, err := s.CreateApp(ctx, tenants.DefaultTenantID, &tenants.App{Name: "after"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AppByKey(ctx, k.Key); err != nil {
		t.Fatal(err)
	}
	off := *a
	off.Enabled = false
	if _, err := s.UpdateApp(ctx, tenants.DefaultTenantID, &off, "test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := dir.AppByKey(ctx, k.Key)
		if err == nil && !got.Enabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the directory missed a change after the feed came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSeedPlansMatchTheMigration: the memory store and a fresh database
// start with the same plans.
func TestSeedPlansMatchTheMigration(t *testing.T) {
	s, _ := openStore(t)
	got, err := s.Plans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tenants.SeedPlans()
	if len(got) != len(want) {
		t.Fatalf("%d plans in the database, %d in SeedPlans", len(got), len(want))
	}
	for _, w := range want {
		i := slices.IndexFunc(got, func(p *tenants.Plan) bool { return p.ID == w.ID })
		if i < 0 || *got[i] != *w {
			t.Errorf("plan %s: database %+v, SeedPlans %+v", w.ID, got[max(i, 0)], w)
		}
	}
}
