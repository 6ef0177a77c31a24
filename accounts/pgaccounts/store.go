// Package pgaccounts keeps the dashboard's users and sessions on
// PostgreSQL (pgx), in the tables of migrations/00010_accounts.sql, next
// to the control plane of tenants/pgstore. It is what dashboard.Accounts
// asks for, and passes accounts/accountstest.
//
// It imports accounts only; nothing imports it but cmd.
package pgaccounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-rt/switchboard/accounts"
)

// Store is the accounts store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

// New uses pool, whose database has been migrated; the caller owns and
// closes the pool (serve shares pgstore's).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// translate maps backend errors to the accounts sentinels.
func translate(err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return accounts.ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return fmt.Errorf("%w: %s", accounts.ErrConflict, pe.ConstraintName)
	case errors.As(err, &pe) && pe.Code == "23503": // foreign_key_violation: no such tenant or user
		return fmt.Errorf("%w: %s", accounts.ErrNotFound, pe.ConstraintName)
	}
	return err
}

func wrap(what string, err error) error {
	err = translate(err)
	if err == nil || errors.Is(err, accounts.ErrNotFound) || errors.Is(err, accounts.ErrConflict) || errors.Is(err, accounts.ErrInvalid) {
		return err
	}
	return fmt.Errorf("pgaccounts: %s: %w", what, err)
}

// HasUsers reports whether any user exists.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&ok)
	return ok, wrap("has users", err)
}

// CreateFirstOwner adds u while the users table is empty. The table lock
// (which readers do not wait for) makes check-and-insert atomic between
// nodes; it is taken once in a deployment's life.
func (s *Store) CreateFirstOwner(ctx context.Context, u *accounts.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap("first owner", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return wrap("first owner", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&exists); err != nil {
		return wrap("first owner", err)
	}
	if exists {
		return fmt.Errorf("%w: the first user exists already", accounts.ErrConflict)
	}
	if err := insertUser(ctx, tx, u); err != nil {
		return wrap("first owner", err)
	}
	return wrap("first owner: commit", tx.Commit(ctx))
}

// CreateUser adds u; an email already taken is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *accounts.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	return wrap("create user", insertUser(ctx, s.pool, u))
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertUser(ctx context.Context, q execer, u *accounts.User) error {
	created := u.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	_, err := q.Exec(ctx, `INSERT INTO users (id, tenant_id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.TenantID, u.Email, string(u.Role), u.PasswordHash, created)
	return err
}

const userColumns = `u.id, u.tenant_id, u.email, u.role, u.password_hash, u.created_at`

func scanUser(row pgx.Row, extra ...any) (*accounts.User, error) {
	var u accounts.User
	var role string
	if err := row.Scan(append([]any{&u.ID, &u.TenantID, &u.Email, &role, &u.PasswordHash, &u.CreatedAt}, extra...)...); err != nil {
		return nil, err
	}
	u.Role = accounts.Role(role)
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

// UserByEmail finds a user by normalised email.
func (s *Store) UserByEmail(ctx context.Context, email string) (*accounts.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, email))
	return u, wrap("user by email", err)
}

// TenantUsers lists a tenant's users, oldest first.
func (s *Store) TenantUsers(ctx context.Context, tenantID string) ([]*accounts.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE u.tenant_id = $1 ORDER BY u.created_at, u.id`, tenantID)
	if err != nil {
		return nil, wrap("tenant users", err)
	}
	defer rows.Close()
	var out []*accounts.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("tenant users", err)
		}
		out = append(out, u)
	}
	return out, wrap("tenant users", rows.Err())
}

// SetUserRole changes the role of one of the tenant's users.
func (s *Store) SetUserRole(ctx context.Context, tenantID, userID string, role accounts.Role) error {
	if !role.Valid() {
		return fmt.Errorf("%w: role: %q is not owner, developer or viewer", accounts.ErrInvalid, role)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET role = $3 WHERE id = $1 AND tenant_id = $2`, userID, tenantID, string(role))
	if err == nil && tag.RowsAffected() == 0 {
		return accounts.ErrNotFound
	}
	return wrap("set role", err)
}

// RemoveUser deletes one of the tenant's users; the foreign key's cascade
// ends their sessions in the same statement.
func (s *Store) RemoveUser(ctx context.Context, tenantID, userID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE id = $1 AND tenant_id = $2`, userID, tenantID)
	if err == nil && tag.RowsAffected() == 0 {
		return accounts.ErrNotFound
	}
	return wrap("remove user", err)
}

// SetPassword replaces a user's hash and ends their other sessions, in
// one transaction.
func (s *Store) SetPassword(ctx context.Context, userID, hash string, keep []byte) error {
	if !strings.HasPrefix(hash, "$argon2id$") {
		return fmt.Errorf("%w: password hash is not an argon2id PHC string", accounts.ErrInvalid)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap("set password", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash)
	if err != nil {
		return wrap("set password", err)
	}
	if tag.RowsAffected() == 0 {
		return accounts.ErrNotFound
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id_hash IS DISTINCT FROM $2`, userID, keep); err != nil {
		return wrap("set password", err)
	}
	return wrap("set password: commit", tx.Commit(ctx))
}

// CreateSession keeps a new session of an existing user.
func (s *Store) CreateSession(ctx context.Context, ss *accounts.Session) error {
	created := ss.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		ss.IDHash, ss.UserID, ss.CSRF, created, ss.ExpiresAt)
	return wrap("create session", err)
}

// Session finds a live session by the hash of its id, with its user.
func (s *Store) Session(ctx context.Context, idHash []byte, now time.Time) (*accounts.Session, *accounts.User, error) {
	var ss accounts.Session
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, s.id_hash, s.user_id, s.csrf, s.created_at, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2`, idHash, now),
		&ss.IDHash, &ss.UserID, &ss.CSRF, &ss.CreatedAt, &ss.ExpiresAt)
	if err != nil {
		return nil, nil, wrap("session", err)
	}
	ss.CreatedAt, ss.ExpiresAt = ss.CreatedAt.UTC(), ss.ExpiresAt.UTC()
	return &ss, u, nil
}

// DeleteSession ends a session; an unknown one is no error.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	return wrap("delete session", err)
}

// DeleteExpiredSessions drops sessions expired at now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	return int(tag.RowsAffected()), nil
}
