package pgstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/switchboard-rt/switchboard/migrations"
)

// Migrator applies the embedded migrations (package migrations) with
// goose. A session lock (pg_advisory_lock) lets several nodes start with
// --migrate at once: one applies, the others wait and find nothing to do.
type Migrator struct {
	*goose.Provider
	db   *sql.DB
	pool *pgxpool.Pool
}

// NewMigrator connects to databaseURL for migrations.
func NewMigrator(ctx context.Context, databaseURL string) (*Migrator, error) {
	pool, err := connect(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	m, err := newMigrator(pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	m.pool = pool
	return m, nil
}

func newMigrator(pool *pgxpool.Pool) (*Migrator, error) {
	db := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("pgstore: migrations: %w", err)
	}
	return &Migrator{Provider: p, db: db}, nil
}

// Close releases the migrator's connections.
func (m *Migrator) Close() error {
	err := m.db.Close()
	if m.pool != nil {
		m.pool.Close()
	}
	return err
}

// Latest is the newest migration's version.
func (m *Migrator) Latest() int64 {
	srcs := m.ListSources()
	if len(srcs) == 0 {
		return 0
	}
	return srcs[len(srcs)-1].Version
}
