// Package pgstore is tenants.Store on PostgreSQL (pgx): the control plane
// of a production deployment. Its schema is package migrations, applied
// with goose (Migrator); app secrets are sealed with AES-GCM (Keyring)
// before they reach a table; changes are announced with pg_notify in the
// transaction that makes them, and Watch delivers them to every node by
// LISTEN (a tenants.ChangeFeed).
//
// It imports tenants and migrations; nothing imports it but cmd.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-rt/switchboard/tenants"
)

// NotifyChannel is the LISTEN/NOTIFY channel of store changes.
const NotifyChannel = "switchboard_changes"

// Store is a tenants.Store and tenants.ChangeFeed on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	keys *Keyring
}

var (
	_ tenants.Store      = (*Store)(nil)
	_ tenants.ChangeFeed = (*Store)(nil)
)

// ErrSchemaOutdated is returned by Open when migrations are pending.
var ErrSchemaOutdated = errors.New("database schema is not up to date")

// Open connects to databaseURL, checks the database is reachable and its
// schema current, and makes sure the default tenant exists. keys seals
// and opens app secrets; it is required.
func Open(ctx context.Context, databaseURL string, keys *Keyring) (*Store, error) {
	if keys == nil {
		return nil, ErrNoSecretKey
	}
	pool, err := connect(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, keys: keys}
	if err := s.checkSchema(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	_, err = pool.Exec(ctx, `INSERT INTO tenants (id, name, plan_id) VALUES ($1, 'Default', $2) ON CONFLICT (id) DO NOTHING`,
		tenants.DefaultTenantID, tenants.DefaultPlanID)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: default tenant: %w", err)
	}
	return s, nil
}

func connect(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("pgstore: database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: cannot reach the database at %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// checkSchema compares the applied version with the embedded migrations.
// It reads goose's table itself: goose's own GetDBVersion would create
// the table (and take its lock) on a database never migrated, and a
// refused start must leave nothing behind.
func (s *Store) checkSchema(ctx context.Context) error {
	m, err := newMigrator(s.pool)
	if err != nil {
		return err
	}
	latest := m.Latest()
	_ = m.db.Close()
	var current int64
	var versioned bool
	err = s.pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&versioned)
	if err == nil && versioned {
		err = s.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&current)
	}
	if err != nil {
		return fmt.Errorf("pgstore: schema version: %w", err)
	}
	switch {
	case current < latest:
		return fmt.Errorf("%w: at version %d, needs %d: run `switchboard migrate up` or start with --migrate", ErrSchemaOutdated, current, latest)
	case current > latest:
		return fmt.Errorf("%w: at version %d, newer than this binary's %d: run a newer switchboard, or `migrate down` with the newer one", ErrSchemaOutdated, current, latest)
	}
	return nil
}

// Pool exposes the connection pool (tests, tools).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// querier is what pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// translate maps backend errors to the tenants sentinels.
func translate(err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return tenants.ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return fmt.Errorf("%w: %s", tenants.ErrConflict, pe.ConstraintName)
	case errors.As(err, &pe) && pe.Code == "23503": // foreign_key_violation
		return fmt.Errorf("%w: %s", tenants.ErrNotFound, pe.ConstraintName)
	}
	return err
}

// inTx runs f in a transaction and commits it.
func (s *Store) inTx(ctx context.Context, what string, f func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: %s: %w", what, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := f(tx); err != nil {
		if errors.Is(err, tenants.ErrNotFound) || errors.Is(err, tenants.ErrConflict) || errors.Is(err, tenants.ErrInvalid) ||
			errors.Is(err, tenants.ErrPlanLimit) || errors.Is(err, tenants.ErrLastKey) {
			return err
		}
		return fmt.Errorf("pgstore: %s: %w", what, translate(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: %s: commit: %w", what, translate(err))
	}
	return nil
}

// notify announces a change to every node when tx commits.
func notify(ctx context.Context, tx pgx.Tx, c tenants.Change) error {
	b, _ := json.Marshal(c)
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, string(b))
	return err
}

func audit(ctx context.Context, tx pgx.Tx, tenant, actor, action, target string, detail []byte) error {
	var d any
	if len(detail) > 0 {
		d = string(detail)
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5::jsonb)`,
		tenant, actor, action, target, d)
	return err
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
